import type { Command } from 'commander';
import { ago, client, json, table, type Io } from '../../context.js';
import { appName, appOption } from '../../app.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('drains').description("list an app's log drains and how their delivery goes")
    .addOption(appOption()).option('--json', 'machine-readable output')
    .action((o: { app?: string; json?: boolean }) => run(async () => {
      const app = await appName(io, o);
      const list = await (await client(io)).drains(app);
      if (o.json) return json(io, list);
      if (!list.length) {
        io.out(`${app} has no log drains. Add one: summon drains:add -a ${app} syslog+tls://logs.example.com:6514`);
        return;
      }
      const now = Date.now();
      io.out(table(list.map((d) => ({
        id: d.id, url: d.url,
        // null: this Summon node does not deliver the drain (another node of a shared store does)
        state: d.status ? `${d.status.state} ${ago(d.status.since, now)}` : '-',
        buffered: d.status?.buffered, delivered: d.status?.delivered, dropped: d.status?.dropped,
        error: d.status?.lastError ?? '',
      })), ['id', 'url', 'state', 'buffered', 'delivered', 'dropped', 'error']));
      const dropping = list.filter((d) => (d.status?.dropped ?? 0) > 0);
      if (dropping.length) {
        io.out(`Lines were dropped (a drain's buffer keeps its newest lines while the receiver is away or slow); ` +
          `\`summon events -a ${app}\` has the drain.dropped reports.`);
      }
    }));
}
