import type { Command } from 'commander';
import { appName, appOption } from '../../app.js';
import { ago, client, json, table, type Io } from '../../context.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('builds').description('list builds of pushes, newest first, failed or not').addOption(appOption())
    .option('--limit <n>', 'how many (1-10000)', '20').option('--json', 'machine-readable output')
    .action((o: { app?: string; limit: string; json?: boolean }) => run(async () => {
      const app = await appName(io, o);
      const bs = await (await client(io)).builds(app, { limit: Number(o.limit) });
      if (o.json) return json(io, bs);
      if (!bs.length) return io.out(`${app} has no builds yet: git push to build.`);
      io.out(table(bs.map((b) => ({
        build: `v${b.version}`, status: b.status, commit: b.commit?.slice(0, 7) ?? null, started: `${ago(b.startedAt)} ago`,
        took: b.durationMs === null ? null : `${(b.durationMs / 1000).toFixed(1)}s`, reason: b.reason?.split('\n')[0].slice(0, 80) ?? null,
      })), ['build', 'status', 'commit', 'started', 'took', 'reason']));
      io.out(`\nA build's log: summon builds:info -a ${app} v${bs[0].version}`);
    }));
}
