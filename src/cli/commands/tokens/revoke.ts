import type { Command } from 'commander';
import { client, type Io } from '../../context.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('tokens:revoke <id>').description('revoke a token by its id (from `summon tokens`): it stops working at once')
    .action((id: string) => run(async () => {
      const t = await (await client(io)).revokeToken(id);
      io.out(`Revoked ${t.id} (${t.name}, ${t.user}).`);
    }));
}
