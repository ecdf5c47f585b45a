import type { Command } from 'commander';

import { actionOut, client, jsonOption, streamedResult, type Io } from '../../context.js';
import { appName, appOption } from '../../app.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('ps:restart').alias('restart').description('replace every instance, rolling').addOption(appOption()).addOption(jsonOption())
    .action((o: { app?: string; json?: boolean }) => run(async () => {
      const app = await appName(io, o);
      const out = actionOut(io, o);
      const r = await (await client(io)).restart(app, out.line);
      out.done({ app, ...streamedResult(r) }, () => io.out(`Restarted ${app}.`));
    }));
}
