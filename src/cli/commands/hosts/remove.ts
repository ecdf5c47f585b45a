import type { Command } from 'commander';
import { checkHostId } from '../../../core/names.js';
import { actionOut, client, jsonOption, type Io } from '../../context.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('hosts:remove <host>').description("remove a joined host: its credential is revoked and its link closed at once, its instances are replaced elsewhere (drain it first for no downtime)")
    .addOption(jsonOption())
    .action((host: string, o: { json?: boolean }) => run(async () => {
      checkHostId(host);
      const r = await (await client(io)).removeHost(host);
      actionOut(io, o).done(r, () => io.out(`Removed ${host}: its credential no longer works.`));
    }));
}
