import type { Command } from 'commander';
import { SummonError } from '../../../core/errors.js';
import { actionOut, client, jsonOption, type Io } from '../../context.js';
import { appName, appOption } from '../../app.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('apps:destroy [name]').description('stop an app and remove all its data')
    .addOption(appOption())
    .option('--confirm <name>', 'repeat the app name to confirm')
    .addOption(jsonOption())
    .action((name: string | undefined, o: { app?: string; confirm?: string; json?: boolean }) => run(async () => {
      const app = await appName(io, o, name);
      if (o.confirm !== app) throw new SummonError('invalid_input', `this removes ${app} and all its releases, config and logs: repeat the name with --confirm ${app}`);
      await (await client(io)).destroyApp(app);
      actionOut(io, o).done({ app, destroyed: true }, () => io.out(`Destroyed ${app}.`));
    }));
}
