import type { Command } from 'commander';

import { client, type Io } from '../../context.js';
import { appName, appOption } from '../../app.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('config:unset <keys...>').description('remove config vars; makes and rolls out a new release').addOption(appOption())
    .action((keys: string[], o: { app?: string }) => run(async () => {
      const app = await appName(io, o);
      const r = await (await client(io)).setConfig(app, {}, keys, (l) => io.out(l));
      io.out(r.release ? `Unset ${keys.join(', ')} and released v${r.release}.` : `Unset ${keys.join(', ')}.`);
    }));
}
