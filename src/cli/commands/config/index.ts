import type { Command } from 'commander';
import { SummonError } from '../../../core/errors.js';
import { client, json, type Io } from '../../context.js';

export function registerConfig(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('config').description('show config vars').requiredOption('-a, --app <name>', 'app name').option('--json', 'machine-readable output')
    .action((o: { app: string; json?: boolean }) => run(async () => {
      const c = await (await client(io)).config(o.app);
      if (o.json) return json(io, c);
      const keys = Object.keys(c).sort();
      if (!keys.length) return io.out(`${o.app} has no config vars.`);
      const w = Math.max(...keys.map((k) => k.length));
      for (const k of keys) io.out(`${`${k}:`.padEnd(w + 2)}${c[k]}`);
    }));

  program.command('config:set <pairs...>').description('set config vars (KEY=VALUE …); makes and rolls out a new release').requiredOption('-a, --app <name>', 'app name')
    .action((pairs: string[], o: { app: string }) => run(async () => {
      const set: Record<string, string> = {};
      for (const p of pairs) {
        const i = p.indexOf('=');
        if (i <= 0) throw new SummonError('invalid_input', `expected KEY=VALUE, got ${JSON.stringify(p)}`);
        set[p.slice(0, i)] = p.slice(i + 1);
      }
      const r = await (await client(io)).setConfig(o.app, set, [], (l) => io.out(l));
      if (!r.ok) throw Object.assign(new Error(r.message ?? 'config change failed'), { exitCode: 8 });
      io.out(r.release ? `Set ${Object.keys(set).join(', ')} and released v${r.release}.` : `Set ${Object.keys(set).join(', ')} (applies from the first release).`);
    }));

  program.command('config:unset <keys...>').description('remove config vars; makes and rolls out a new release').requiredOption('-a, --app <name>', 'app name')
    .action((keys: string[], o: { app: string }) => run(async () => {
      const r = await (await client(io)).setConfig(o.app, {}, keys, (l) => io.out(l));
      if (!r.ok) throw Object.assign(new Error(r.message ?? 'config change failed'), { exitCode: 8 });
      io.out(r.release ? `Unset ${keys.join(', ')} and released v${r.release}.` : `Unset ${keys.join(', ')}.`);
    }));
}
