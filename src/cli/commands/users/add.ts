import type { Command } from 'commander';
import { SummonError } from '../../../core/errors.js';
import { ROLES, type Role } from '../../../core/access.js';
import { client, json, type Io } from '../../context.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('users:add <email>').description('add a user: an admin (everything) or a member (the apps given with access:add)')
    .option('--role <role>', 'admin or member', 'member').option('--json', 'machine-readable output')
    .action((email: string, o: { role: string; json?: boolean }) => run(async () => {
      if (!(ROLES as readonly string[]).includes(o.role)) throw new SummonError('invalid_input', `--role must be admin or member, got ${JSON.stringify(o.role)}`);
      const u = await (await client(io)).addUser(email, o.role as Role);
      if (o.json) return json(io, u);
      io.out(`Added ${u.email} (${u.role}).`);
      io.out(u.role === 'member'
        ? `Give them apps with \`summon access:add -a APP ${u.email}\`, then a token: \`summon tokens:create --user ${u.email} --scope deploy\`.`
        : `Give them a token: \`summon tokens:create --user ${u.email} --scope admin\`.`);
    }));
}
