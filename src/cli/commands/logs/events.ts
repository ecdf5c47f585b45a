import type { Command } from 'commander';
import type { SummonEvent } from '../../../sdk/client.js';
import { client, json, type Io } from '../../context.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('events').description('the history of releases, deploys, crashes and scaling').requiredOption('-a, --app <name>', 'app name')
    .option('-n, --num <n>', 'number of events', '50').option('-t, --tail', 'keep streaming').option('--json', 'machine-readable output')
    .action((o: { app: string; num: string; tail?: boolean; json?: boolean }) => run(async () => {
      const c = await client(io);
      const print = (e: SummonEvent) => io.out(o.json ? JSON.stringify(e) : `${new Date(e.at).toISOString()} ${e.type.padEnd(18)} ${e.message}`);
      const list = await c.events(o.app, { limit: Number(o.num) || 50 });
      if (o.json && !o.tail) return json(io, list);
      for (const e of list) print(e);
      if (!o.tail) return;
      const ac = new AbortController();
      process.once('SIGINT', () => ac.abort());
      // As logs --tail: a stream the API ended (restarted, or dropped for reading too slowly) is reopened.
      while (!ac.signal.aborted) {
        await c.tailEvents(o.app, print, ac.signal).catch((e) => {
          if (!ac.signal.aborted) io.err(`event stream interrupted (${(e as Error).message}); reconnecting`);
        });
        if (!ac.signal.aborted) await new Promise((r) => setTimeout(r, 1000));
      }
    }));
}
