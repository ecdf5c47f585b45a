import type { Command } from 'commander';
import { actionOut, client, jsonOption, type Io } from '../../context.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('users:remove <email>').description('remove a user, with their tokens (which stop working at once) and access')
    .addOption(jsonOption())
    .action((email: string, o: { json?: boolean }) => run(async () => {
      const r = await (await client(io)).removeUser(email);
      actionOut(io, o).done({ email: r.email, removed: true }, () => io.out(`Removed ${r.email}; their tokens no longer work.`));
    }));
}
