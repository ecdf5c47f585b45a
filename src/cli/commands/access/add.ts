import type { Command } from 'commander';
import { client, json, type Io } from '../../context.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('access:add <email>').description('give a member an app: they see it and, with a deploy token, push, deploy and configure it')
    .requiredOption('-a, --app <name>', 'app name').option('--json', 'machine-readable output')
    .action((email: string, o: { app: string; json?: boolean }) => run(async () => {
      const a = await (await client(io)).addAccess(o.app, email);
      if (o.json) return json(io, a);
      io.out(`${a.email} now has access to ${o.app}.`);
    }));
}
