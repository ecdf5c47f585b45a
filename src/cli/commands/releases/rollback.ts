import type { Command } from 'commander';
import { actionOut, client, jsonOption, parseVersion, streamedResult, type Io } from '../../context.js';
import { appName, appOption } from '../../app.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('rollback [version]').alias('releases:rollback').description('roll back to a release (default: the one before the live one)').addOption(appOption()).addOption(jsonOption())
    .action((version: string | undefined, o: { app?: string; json?: boolean }) => run(async () => {
      const app = await appName(io, o);
      const out = actionOut(io, o);
      const r = await (await client(io)).rollback(app, version ? parseVersion(version) : null, out.line);
      out.done({ app, ...streamedResult(r) }, () => {});
    }));
}
