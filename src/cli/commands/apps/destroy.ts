import type { Command } from 'commander';
import { SummonError } from '../../../core/errors.js';
import { client, type Io } from '../../context.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('apps:destroy <name>').description('stop an app and remove all its data')
    .option('--confirm <name>', 'repeat the app name to confirm')
    .action((name: string, o: { confirm?: string }) => run(async () => {
      if (o.confirm !== name) throw new SummonError('invalid_input', `this removes ${name} and all its releases, config and logs: repeat the name with --confirm ${name}`);
      await (await client(io)).destroyApp(name);
      io.out(`Destroyed ${name}.`);
    }));
}
