import type { Command } from 'commander';
import { SummonError } from '../../../core/errors.js';
import { ago, client, json, table, type Io } from '../../context.js';

export function registerPs(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('ps').description('list instances').requiredOption('-a, --app <name>', 'app name').option('--json', 'machine-readable output')
    .action((o: { app: string; json?: boolean }) => run(async () => {
      const c = await client(io);
      const [list, app] = await Promise.all([c.instances(o.app), c.app(o.app)]);
      if (o.json) return json(io, list);
      if (!list.length) {
        io.out(app.state === 'idle' ? `${o.app} is idle (scaled to zero); the next request wakes it.` : `${o.app} has no instances (desired ${app.desiredCount}).`);
        return;
      }
      const now = Date.now();
      io.out(table(list.map((i) => ({
        id: i.id, release: `v${i.version}`, host: i.host, state: i.state, port: i.port, pid: i.pid,
        cpu: i.cpu === null ? null : `${(i.cpu * 100).toFixed(0)}%`,
        mem: i.memoryBytes === null ? null : `${(i.memoryBytes / 1048576).toFixed(0)}M`,
        uptime: i.startedAt && i.pid ? ago(i.startedAt, now) : null, restarts: i.restarts,
        reason: i.state === 'crashed' ? `${i.reason ?? ''}${i.nextRetryAt ? ` (retry in ${Math.max(0, Math.round((i.nextRetryAt - now) / 1000))}s)` : ''}` : null,
      })), ['id', 'release', 'host', 'state', 'port', 'pid', 'cpu', 'mem', 'uptime', 'restarts', 'reason']));
    }));

  program.command('ps:scale <count>').description('set the number of instances').requiredOption('-a, --app <name>', 'app name')
    .action((count: string, o: { app: string }) => run(async () => {
      const n = Number(count);
      if (!Number.isInteger(n) || n < 0) throw new SummonError('invalid_input', `count must be a whole number ≥ 0, got ${JSON.stringify(count)}`);
      const a = await (await client(io)).scale(o.app, n);
      io.out(`Scaling ${o.app} to ${a.desiredCount} instance(s).`);
    }));

  program.command('ps:restart').alias('restart').description('replace every instance, rolling').requiredOption('-a, --app <name>', 'app name')
    .action((o: { app: string }) => run(async () => {
      const r = await (await client(io)).restart(o.app, (l) => io.out(l));
      if (!r.ok) throw Object.assign(new Error(r.message ?? 'restart failed'), { exitCode: 8 });
      io.out(`Restarted ${o.app}.`);
    }));

  program.command('autoscale').description('set the autoscale policy').requiredOption('-a, --app <name>', 'app name')
    .option('--min <n>', 'fewest instances (0 allows scale to zero)').option('--max <n>', 'hard maximum')
    .option('--target-cpu <p>', 'target CPU per instance, percent (80) or fraction (0.8)').option('--idle-timeout <t>', 'with --min 0: stop after this long without requests, e.g. 5m')
    .option('--json', 'machine-readable output')
    .action((o: { app: string; min?: string; max?: string; targetCpu?: string; idleTimeout?: string; json?: boolean }) => run(async () => {
      const num = (k: string, v?: string) => {
        if (v === undefined) return undefined;
        const n = Number(v);
        if (!Number.isFinite(n)) throw new SummonError('invalid_input', `--${k} must be a number, got ${JSON.stringify(v)}`);
        return n;
      };
      const a = await (await client(io)).autoscale(o.app, {
        ...(o.min !== undefined ? { min: num('min', o.min) } : {}), ...(o.max !== undefined ? { max: num('max', o.max) } : {}),
        ...(o.targetCpu !== undefined ? { targetCpu: num('target-cpu', o.targetCpu) } : {}), ...(o.idleTimeout ? { idleTimeout: o.idleTimeout } : {}),
      });
      if (o.json) return json(io, a);
      io.out(`${o.app}: min ${a.scale.min}, max ${a.scale.max}, target CPU ${Math.round(a.scale.targetCpu * 100)}%, idle timeout ${a.scale.idleTimeoutMs / 1000}s; ${a.desiredCount} instance(s) now.`);
    }));
}
