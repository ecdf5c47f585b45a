import type { Command } from 'commander';
import { client, json, table, type Io } from '../../context.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('users').description('list the users: their role, and the apps a member was given').option('--json', 'machine-readable output')
    .action((o: { json?: boolean }) => run(async () => {
      const list = await (await client(io)).users();
      if (o.json) return json(io, list);
      io.out(table(list.map((u) => ({
        email: u.email, role: u.role, apps: u.role === 'admin' ? '(every app)' : u.apps.join(',') || '-', created: new Date(u.createdAt).toISOString(),
      })), ['email', 'role', 'apps', 'created']));
    }));
}
