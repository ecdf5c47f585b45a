import type { Command } from 'commander';
import { appName, appOption } from '../../app.js';
import { client, json, parseVersion, type Io } from '../../context.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('builds:info <version>').description('show a build: its result, duration and whole log').addOption(appOption())
    .option('--json', 'machine-readable output')
    .action((version: string, o: { app?: string; json?: boolean }) => run(async () => {
      const app = await appName(io, o);
      const b = await (await client(io)).build(app, parseVersion(version));
      if (o.json) return json(io, b);
      io.out(`Build v${b.version}  ${b.status}  ${b.commit ? b.commit.slice(0, 7) : '-'}  ${new Date(b.startedAt).toISOString()}` +
        `${b.durationMs === null ? '' : `  ${(b.durationMs / 1000).toFixed(1)}s`}`);
      if (b.reason) io.out(`Reason:   ${b.reason}`);
      if (b.buildManifest) io.out(`Manifest: summon releases:info -a ${app} v${b.version}`);
      io.out(`Log (${b.logBytes} bytes${b.truncated ? ', the middle cut out' : ''}):`);
      io.out(b.log.replace(/\n$/, ''));
    }));
}
