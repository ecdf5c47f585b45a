import type { Command } from 'commander';
import { actionOut, client, jsonOption, type Io } from '../../context.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('tokens:revoke <id>').description('revoke a token by its id (from `summon tokens`): it stops working at once')
    .addOption(jsonOption())
    .action((id: string, o: { json?: boolean }) => run(async () => {
      const t = await (await client(io)).revokeToken(id);
      actionOut(io, o).done(t, () => io.out(`Revoked ${t.id} (${t.name}, ${t.user}).`));
    }));
}
