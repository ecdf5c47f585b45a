import type { Command } from 'commander';
import type { LogLine } from '../../../sdk/client.js';
import { client, type Io } from '../../context.js';

export function formatLogLine(l: LogLine): string {
  return `${new Date(l.at).toISOString()} ${l.source}[${l.proc}]: ${l.text}`;
}

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('logs').description('show the app\'s logs (instances and Summon)').requiredOption('-a, --app <name>', 'app name')
    .option('-t, --tail', 'keep streaming new lines').option('--since <d>', 'only lines newer than this, e.g. 10m')
    .option('--instance <id>', 'only this instance').option('--source <s>', 'app or summon').option('-n, --num <n>', 'number of lines', '100')
    .option('--json', 'one JSON object per line')
    .action((o: { app: string; tail?: boolean; since?: string; instance?: string; source?: string; num: string; json?: boolean }) => run(async () => {
      const c = await client(io);
      const q = { since: o.since, instance: o.instance, source: o.source, limit: Number(o.num) || 100 };
      const print = (l: LogLine) => io.out(o.json ? JSON.stringify(l) : formatLogLine(l));
      if (!o.tail) {
        for (const l of await c.logs(o.app, q)) print(l);
        return;
      }
      const ac = new AbortController();
      const stop = () => ac.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      // The stream survives instances coming and going; reconnect if the API restarts.
      while (!ac.signal.aborted) {
        await c.tailLogs(o.app, q, print, ac.signal).catch((e) => {
          if (!ac.signal.aborted) io.err(`log stream interrupted (${(e as Error).message}); reconnecting`);
        });
        if (!ac.signal.aborted) await new Promise((r) => setTimeout(r, 1000));
      }
    }));
}
