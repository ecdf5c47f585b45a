import type { Command } from 'commander';
import { client, parseVersion, type Io } from '../../context.js';
import { appName, appOption } from '../../app.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('rollback [version]').alias('releases:rollback').description('roll back to a release (default: the one before the live one)').addOption(appOption())
    .action((version: string | undefined, o: { app?: string }) => run(async () => {
      const app = await appName(io, o);
      await (await client(io)).rollback(app, version ? parseVersion(version) : null, (l) => io.out(l));
    }));
}
