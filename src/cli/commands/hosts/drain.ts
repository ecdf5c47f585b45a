import type { Command } from 'commander';
import { checkHostId } from '../../../core/names.js';
import { actionOut, client, jsonOption, streamedResult, type Io } from '../../context.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('hosts:drain <host>').description('move a host\'s instances to other hosts (rolling, each replacement healthy before the old one leaves) and place nothing more there')
    .addOption(jsonOption())
    .action((host: string, o: { json?: boolean }) => run(async () => {
      checkHostId(host);
      const out = actionOut(io, o);
      const r = await (await client(io)).drainHost(host, out.line);
      out.done({ host, ...streamedResult(r) }, () => io.out(`Drained ${host}.`));
    }));
}
