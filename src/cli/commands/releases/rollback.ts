import type { Command } from 'commander';
import { client, parseVersion, type Io } from '../../context.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('rollback [version]').description('roll back to a release (default: the one before the live one)').requiredOption('-a, --app <name>', 'app name')
    .action((version: string | undefined, o: { app: string }) => run(async () => {
      await (await client(io)).rollback(o.app, version ? parseVersion(version) : null, (l) => io.out(l));
    }));
}
