import type { Command } from 'commander';

import { actionOut, client, jsonOption, streamedResult, type Io } from '../../context.js';
import { appName, appOption } from '../../app.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('config:unset <keys...>').description('remove config vars; makes and rolls out a new release').addOption(appOption()).addOption(jsonOption())
    .action((keys: string[], o: { app?: string; json?: boolean }) => run(async () => {
      const app = await appName(io, o);
      const out = actionOut(io, o);
      const r = await (await client(io)).setConfig(app, {}, keys, out.line);
      out.done({ app, ...streamedResult(r) }, () => io.out(r.release ? `Unset ${keys.join(', ')} and released v${r.release}.` : `Unset ${keys.join(', ')}.`));
    }));
}
