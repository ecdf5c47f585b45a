import type { Command } from 'commander';
import { parseLabels } from '../../../core/labels.js';
import { actionOut, client, jsonOption, type Io } from '../../context.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('hosts:join-token').description('print the one-line command a new host joins with (it dials out: no port to open on it); the token is single-use and expires')
    .option('--expires <d>', 'how long the token can be used: 1s to 30d', '1h')
    .option('--label <k=v>', 'a label the host gets (region=eu-west, disk=ssd …; [scale].regions and [scale].host_labels match them); repeat for more',
      (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--url <https://host:port>', 'the control plane as the new host reaches it (default: the API address this command uses, over https)')
    .addOption(jsonOption())
    .action((o: { expires: string; label: string[]; url?: string; json?: boolean }) => run(async () => {
      const labels = parseLabels(o.label);
      const c = await client(io);
      const url = o.url ?? c.baseUrl.replace(/^http:/, 'https:').replace(/\/+$/, '');
      const t = await c.createJoinToken({ expires: o.expires, labels, url });
      const out = actionOut(io, o);
      out.done(t, () => {
        io.out(t.command);
        io.err(`Run that on the new host (Node 20 and Summon installed). The token joins one host, until ${new Date(t.expiresAt).toISOString()}; the host then holds its own credential (\`summon hosts:remove HOST\` revokes it).`);
      });
    }));
}
