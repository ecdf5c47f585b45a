import type { Command } from 'commander';
import { SummonError } from '../../../core/errors.js';
import { client, json, type Io } from '../../context.js';
import { appName, appOption } from '../../app.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('autoscale').description('set the autoscale policy').addOption(appOption())
    .option('--min <n>', 'fewest instances (0 allows scale to zero)').option('--max <n>', 'hard maximum')
    .option('--target-cpu <p>', 'target CPU per instance, percent (80) or fraction (0.8)').option('--idle-timeout <t>', 'with --min 0: stop after this long without requests, e.g. 5m')
    .option('--json', 'machine-readable output')
    .action((o: { app?: string; min?: string; max?: string; targetCpu?: string; idleTimeout?: string; json?: boolean }) => run(async () => {
      const app = await appName(io, o);
      const num = (k: string, v?: string) => {
        if (v === undefined) return undefined;
        const n = Number(v);
        if (!Number.isFinite(n)) throw new SummonError('invalid_input', `--${k} must be a number, got ${JSON.stringify(v)}`);
        return n;
      };
      const a = await (await client(io)).autoscale(app, {
        ...(o.min !== undefined ? { min: num('min', o.min) } : {}), ...(o.max !== undefined ? { max: num('max', o.max) } : {}),
        ...(o.targetCpu !== undefined ? { targetCpu: num('target-cpu', o.targetCpu) } : {}), ...(o.idleTimeout ? { idleTimeout: o.idleTimeout } : {}),
      });
      if (o.json) return json(io, a);
      io.out(`${app}: min ${a.scale.min}, max ${a.scale.max}, target CPU ${Math.round(a.scale.targetCpu * 100)}%, idle timeout ${a.scale.idleTimeoutMs / 1000}s; ${a.desiredCount} instance(s) now.`);
    }));
}
