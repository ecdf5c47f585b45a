import type { Command } from 'commander';
import { SummonError } from '../../../core/errors.js';
import { client, type Io } from '../../context.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('ps:scale <count>').description('set the number of instances').requiredOption('-a, --app <name>', 'app name')
    .action((count: string, o: { app: string }) => run(async () => {
      const n = Number(count);
      if (!Number.isInteger(n) || n < 0) throw new SummonError('invalid_input', `count must be a whole number ≥ 0, got ${JSON.stringify(count)}`);
      const a = await (await client(io)).scale(o.app, n);
      io.out(`Scaling ${o.app} to ${a.desiredCount} instance(s).`);
      const { min, max, targetCpu } = a.scale;
      if (max > Math.max(min, 1)) {
        const hold = a.manualHoldUntil ? `; it will not scale in for ${Math.round((a.manualHoldUntil - Date.now()) / 1000)}s` : '';
        io.out(`Autoscaling (min ${min}, max ${max}, target CPU ${Math.round(targetCpu * 100)}%) may change this count later${hold}. ` +
          `To fix the count, \`summon autoscale -a ${o.app} --min ${a.desiredCount} --max ${a.desiredCount}\`.`);
      }
    }));
}
