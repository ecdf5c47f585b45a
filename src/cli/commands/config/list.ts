import type { Command } from 'commander';

import { client, json, type Io } from '../../context.js';
import { appName, appOption } from '../../app.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('config').description('show config vars').addOption(appOption()).option('--json', 'machine-readable output')
    .action((o: { app?: string; json?: boolean }) => run(async () => {
      const app = await appName(io, o);
      const c = await (await client(io)).config(app);
      if (o.json) return json(io, c);
      const keys = Object.keys(c).sort();
      if (!keys.length) return io.out(`${app} has no config vars.`);
      const w = Math.max(...keys.map((k) => k.length));
      for (const k of keys) io.out(`${`${k}:`.padEnd(w + 2)}${c[k]}`);
    }));
}
