import type { Command } from 'commander';

import { client, json, stateColour, table, type Io } from '../../context.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('apps').description('list apps').option('--json', 'machine-readable output')
    .action((o: { json?: boolean }) => run(async () => {
      const apps = await (await client(io)).apps();
      if (o.json) return json(io, apps);
      if (!apps.length) return io.out('No apps yet. Create one with `summon apps:create NAME`.');
      io.out(table(apps.map((a) => ({ name: a.name, state: a.state, release: a.liveVersion ? `v${a.liveVersion}` : '-', instances: `${a.instances.healthy}/${a.desiredCount}`, url: a.url })), ['name', 'state', 'release', 'instances', 'url'], (col, v) => (col === 'state' ? stateColour(io, v) : v)));
    }));
}
