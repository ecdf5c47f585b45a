import type { Command } from 'commander';

import { ago, client, json, stateColour, table, type Io } from '../../context.js';
import { appName, appOption } from '../../app.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('ps').description('list instances').addOption(appOption()).option('--json', 'machine-readable output')
    .action((o: { app?: string; json?: boolean }) => run(async () => {
      const app = await appName(io, o);
      const c = await client(io);
      const [list, view] = await Promise.all([c.instances(app), c.app(app)]);
      if (o.json) return json(io, list);
      if (!list.length) {
        io.out(view.state === 'idle' ? `${app} is idle (scaled to zero); the next request wakes it.` : `${app} has no instances (desired ${view.desiredCount}).`);
        return;
      }
      const now = Date.now();
      io.out(table(list.map((i) => ({
        id: i.id, release: `v${i.version}`, host: i.host, state: i.state, port: i.port, pid: i.pid,
        cpu: i.cpu === null ? null : `${(i.cpu * 100).toFixed(0)}%`,
        mem: i.memoryBytes === null ? null : `${(i.memoryBytes / 1048576).toFixed(0)}M`,
        uptime: i.startedAt && i.pid ? ago(i.startedAt, now) : null, restarts: i.restarts,
        reason: i.state === 'crashed' ? `${i.reason ?? ''}${i.nextRetryAt ? ` (retry in ${Math.max(0, Math.round((i.nextRetryAt - now) / 1000))}s)` : ''}`
          : i.state === 'starting' ? i.reason : null,
      })), ['id', 'release', 'host', 'state', 'port', 'pid', 'cpu', 'mem', 'uptime', 'restarts', 'reason'], (col, v) => (col === 'state' ? stateColour(io, v) : v)));
    }));
}
