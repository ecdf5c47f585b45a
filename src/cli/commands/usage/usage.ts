import type { Command } from 'commander';
import { DEFAULT_SINCE, parseSince } from '../../../core/usage.js';
import { client, json, table, type Io } from '../../context.js';
import { appOption } from '../../app.js';

const n = (x: number) => (Math.round(x * 10) / 10).toLocaleString('en-US');
const money = (x: number | null) => (x === null ? '-' : x.toFixed(6));

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('usage').description('instance-seconds and memory-seconds per app and day, and their cost when `summon up --price-per-instance-second` is set')
    .addOption(appOption('one app (default: every app the token reaches)'))
    .option('--since <back>', 'how far back: 90m, 12h, 30d (1m to 3650d)', DEFAULT_SINCE)
    .option('--json', 'machine-readable output')
    .action((o: { app?: string; since: string; json?: boolean }) => run(async () => {
      parseSince(o.since); // refused here, before any request, with the same message as the API's
      const u = await (await client(io)).usage({ ...(o.app !== undefined ? { app: o.app } : {}), since: o.since });
      if (o.json) return json(io, u);
      if (!u.days.length) {
        io.out(`No usage from ${u.from} to ${u.to}${o.app ? ` for ${o.app}` : ''}: no instance ran.`);
        return;
      }
      const priced = u.pricePerInstanceSecond !== null;
      const cols = ['app', 'day', 'instance-seconds', 'memory MiB·s', ...(priced ? ['cost'] : [])];
      const rows: Record<string, unknown>[] = u.days.map((d) => ({
        app: d.app, day: d.day, 'instance-seconds': n(d.instanceSeconds), 'memory MiB·s': n(d.memoryMibSeconds), cost: money(d.cost),
      }));
      for (const t of u.totals) {
        rows.push({ app: t.app, day: 'total', 'instance-seconds': n(t.instanceSeconds), 'memory MiB·s': n(t.memoryMibSeconds), cost: money(t.cost) });
      }
      io.out(table(rows, cols));
      io.out(`From ${u.from} to ${u.to} (UTC days). Memory-seconds are each running instance's [run].memory reservation × its seconds.`);
      io.out(priced
        ? `Cost at ${u.pricePerInstanceSecond} per instance-second.`
        : 'No price set: start Summon with `summon up --price-per-instance-second N` to see costs.');
    }));
}
