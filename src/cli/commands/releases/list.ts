import type { Command } from 'commander';
import { ago, client, json, stateColour, table, type Io } from '../../context.js';
import { appName, appOption } from '../../app.js';
import { rollbackAdvice } from '../../../artifacts/integrity.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('releases').description('list releases').addOption(appOption()).option('--json', 'machine-readable output')
    .action((o: { app?: string; json?: boolean }) => run(async () => {
      const app = await appName(io, o);
      const rs = await (await client(io)).releases(app);
      if (o.json) return json(io, rs);
      if (!rs.length) return io.out(`${app} has no releases yet: git push to deploy.`);
      io.out(table(rs.map((r) => ({
        version: `v${r.version}`, status: r.brokenReason ? `${r.status}, broken` : r.status, description: r.description, commit: r.commit?.slice(0, 7),
        artifact: r.artifactSha256 ? `sha256:${r.artifactSha256.slice(0, 12)}` : null, created: `${ago(r.createdAt)} ago`,
        reason: (r.brokenReason ?? r.reason)?.slice(0, 80) ?? null,
      })), ['version', 'status', 'description', 'commit', 'artifact', 'created', 'reason'], (col, v) => (col === 'status' ? stateColour(io, v) : v)));
      // A live release whose artifact was found missing or altered: say so, and what to run.
      const live = rs.find((r) => r.status === 'live' && r.brokenReason);
      if (live) io.out(`\nv${live.version} is live but broken: ${live.brokenReason}.\nTo serve an intact release, ${rollbackAdvice(app, rs)}.`);
    }));
}
