import type { Command } from 'commander';

import { client, type Io } from '../../context.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('ps:restart').alias('restart').description('replace every instance, rolling').requiredOption('-a, --app <name>', 'app name')
    .action((o: { app: string }) => run(async () => {
      await (await client(io)).restart(o.app, (l) => io.out(l));
      io.out(`Restarted ${o.app}.`);
    }));
}
