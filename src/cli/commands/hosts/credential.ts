import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hostCredential } from '../../../agent/host-credential.js';
import { SummonError } from '../../../core/errors.js';
import { checkHostId } from '../../../core/names.js';
import { client, type Io } from '../../context.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('hosts:credential <id>').description("print a host's own agent credential, for `summon agent --id ID --token-file FILE` on that host")
    .option('--data <dir>', "work it out from this control plane's data directory instead of asking the API (Summon may be stopped)")
    .action((id: string, o: { data?: string }) => run(async () => {
      checkHostId(id);
      if (o.data) {
        const file = join(o.data, 'agent.token');
        const secret = (await readFile(file, 'utf8').catch(() => {
          throw new SummonError('not_found', `no ${file}: give the --data directory of \`summon up\` (it makes agent.token on its first start)`);
        })).trim();
        return io.out(hostCredential(secret, id));
      }
      io.out((await (await client(io)).hostCredential(id)).credential);
    }));
}
