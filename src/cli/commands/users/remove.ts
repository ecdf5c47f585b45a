import type { Command } from 'commander';
import { client, type Io } from '../../context.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('users:remove <email>').description('remove a user, with their tokens (which stop working at once) and access')
    .action((email: string) => run(async () => {
      const r = await (await client(io)).removeUser(email);
      io.out(`Removed ${r.email}; their tokens no longer work.`);
    }));
}
