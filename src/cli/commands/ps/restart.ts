import type { Command } from 'commander';

import { client, type Io } from '../../context.js';
import { appName, appOption } from '../../app.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('ps:restart').alias('restart').description('replace every instance, rolling').addOption(appOption())
    .action((o: { app?: string }) => run(async () => {
      const app = await appName(io, o);
      await (await client(io)).restart(app, (l) => io.out(l));
      io.out(`Restarted ${app}.`);
    }));
}
