import type { Command } from 'commander';
import type { LogLine } from '../../../sdk/client.js';
import { client, type Io } from '../../context.js';
import { appName, appOption } from '../../app.js';
import { follow } from '../../tail.js';

export function formatLogLine(l: LogLine): string {
  return `${new Date(l.at).toISOString()} ${l.source}[${l.proc}]: ${l.text}`;
}

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('logs').description('show the app\'s logs (instances and Summon)').addOption(appOption())
    .option('-t, --tail', 'keep streaming new lines').option('--since <d>', 'only lines newer than this, e.g. 10m')
    .option('--instance <id>', 'only this instance').option('--source <s>', 'app or summon').option('-n, --num <n>', 'number of lines', '100')
    .option('--json', 'one JSON object per line')
    .action((o: { app?: string; tail?: boolean; since?: string; instance?: string; source?: string; num: string; json?: boolean }) => run(async () => {
      const app = await appName(io, o);
      const c = await client(io);
      const q = { since: o.since, instance: o.instance, source: o.source, limit: Number(o.num) || 100 };
      const print = (l: LogLine) => io.out(o.json ? JSON.stringify(l) : formatLogLine(l));
      if (!o.tail) {
        for (const l of await c.logs(app, q)) print(l);
        return;
      }
      // A reopened stream starts with history again: lines already printed (by seq, and not
      // newer than the last one: a restarted API may count seq from 1 again) are skipped.
      let lastSeq = -1;
      let lastAt = -Infinity;
      const once = (l: LogLine) => {
        if (l.seq <= lastSeq && l.at <= lastAt) return;
        lastSeq = l.seq;
        lastAt = Math.max(lastAt, l.at);
        print(l);
      };
      // A reopened stream asks for everything since the last line printed (plus a margin for
      // the clocks), not just the newest -n lines, so an outage loses none the API kept.
      const reopen = () => (lastAt === -Infinity ? q : { ...q, since: `${Math.max(1, Math.ceil((Date.now() - lastAt) / 1000) + 5)}s`, limit: 10_000 });
      await follow(io, { what: 'log', open: (signal, opened) => c.tailLogs(app, reopen(), once, signal, opened) });
    }));
}
