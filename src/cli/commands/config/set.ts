import type { Command } from 'commander';
import { SummonError } from '../../../core/errors.js';
import { actionOut, client, jsonOption, streamedResult, type Io } from '../../context.js';
import { appName, appOption } from '../../app.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('config:set <pairs...>').description('set config vars (KEY=VALUE …); makes and rolls out a new release').addOption(appOption()).addOption(jsonOption())
    .action((pairs: string[], o: { app?: string; json?: boolean }) => run(async () => {
      const app = await appName(io, o);
      const set: Record<string, string> = {};
      for (const p of pairs) {
        const i = p.indexOf('=');
        if (i <= 0) throw new SummonError('invalid_input', `expected KEY=VALUE, got ${JSON.stringify(p)}`);
        set[p.slice(0, i)] = p.slice(i + 1);
      }
      const out = actionOut(io, o);
      const r = await (await client(io)).setConfig(app, set, [], out.line);
      out.done({ app, ...streamedResult(r) }, () => io.out(r.release ? `Set ${Object.keys(set).join(', ')} and released v${r.release}.` : `Set ${Object.keys(set).join(', ')} (applies from the first release).`));
    }));
}
