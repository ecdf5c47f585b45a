import type { Command } from 'commander';
import { SummonError } from '../../../core/errors.js';
import { client, json, jsonOption, type Io } from '../../context.js';
import { appName, appOption } from '../../app.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('ps:scale <count>').description('set the number of instances').addOption(appOption()).addOption(jsonOption())
    .action((count: string, o: { app?: string; json?: boolean }) => run(async () => {
      const app = await appName(io, o);
      const n = Number(count);
      if (!Number.isInteger(n) || n < 0) throw new SummonError('invalid_input', `count must be a whole number ≥ 0, got ${JSON.stringify(count)}`);
      const a = await (await client(io)).scale(app, n);
      if (o.json) return json(io, a);
      io.out(`Scaling ${app} to ${a.desiredCount} instance(s).`);
      const { min, max, targetCpu } = a.scale;
      if (max > Math.max(min, 1)) {
        const hold = a.manualHoldUntil ? `; it will not scale in for ${Math.round((a.manualHoldUntil - Date.now()) / 1000)}s` : '';
        io.out(`Autoscaling (min ${min}, max ${max}, target CPU ${Math.round(targetCpu * 100)}%) may change this count later${hold}. ` +
          `To fix the count, \`summon autoscale -a ${app} --min ${a.desiredCount} --max ${a.desiredCount}\`.`);
      }
    }));
}
