import type { Command } from 'commander';
import { client, json, type Io } from '../../context.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('hosts:events').description('when hosts became unreachable and connected again')
    .option('-n, --num <n>', 'number of events', '50').option('--json', 'machine-readable output')
    .action((o: { num: string; json?: boolean }) => run(async () => {
      const list = await (await client(io)).hostEvents({ limit: Number(o.num) || 50 });
      if (o.json) return json(io, list);
      if (list.length === 0) return io.out('No host has been unreachable.');
      for (const e of list) io.out(`${new Date(e.at).toISOString()} ${e.type.padEnd(17)} ${e.message}`);
    }));
}
