import type { Command } from 'commander';
import { client, json, table, type Io } from '../../context.js';
import { appName, appOption } from '../../app.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('access').description('who reaches an app: every admin, and the members given it').addOption(appOption())
    .option('--json', 'machine-readable output')
    .action((o: { app?: string; json?: boolean }) => run(async () => {
      const app = await appName(io, o);
      const list = await (await client(io)).access(app);
      if (o.json) return json(io, list);
      io.out(table(list.map((a) => ({ email: a.email, role: a.role, via: a.via === 'admin' ? 'admin (every app)' : 'access:add', since: new Date(a.createdAt).toISOString() })),
        ['email', 'role', 'via', 'since']));
    }));
}
