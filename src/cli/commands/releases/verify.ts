import type { Command } from 'commander';
import { SummonError } from '../../../core/errors.js';
import { appName, appOption } from '../../app.js';
import { client, json, parseVersion, type Io } from '../../context.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('releases:verify <version>')
    .description('rebuild a release from its manifest and check the artifact is the same bytes (exit 6 when it differs)')
    .addOption(appOption()).option('--json', 'machine-readable output (the verification)')
    .action((version: string, o: { app?: string; json?: boolean }) => run(async () => {
      const app = await appName(io, o);
      const c = await client(io);
      const v = parseVersion(version);
      const r = await c.verifyRelease(app, v, o.json ? () => {} : (l) => io.out(l)).catch(async (e: unknown) => {
        // It differs: the verification is stored on the release; printed, then the exit code says so.
        if (o.json && e instanceof SummonError && e.code === 'conflict') json(io, (await c.release(app, v)).verification);
        throw e;
      });
      if (o.json) return json(io, r.verification);
      io.out(String(r.message));
    }));
}
