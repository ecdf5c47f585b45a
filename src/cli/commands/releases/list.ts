import type { Command } from 'commander';
import { ago, client, json, table, type Io } from '../../context.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('releases').description('list releases').requiredOption('-a, --app <name>', 'app name').option('--json', 'machine-readable output')
    .action((o: { app: string; json?: boolean }) => run(async () => {
      const rs = await (await client(io)).releases(o.app);
      if (o.json) return json(io, rs);
      if (!rs.length) return io.out(`${o.app} has no releases yet: git push to deploy.`);
      io.out(table(rs.map((r) => ({
        version: `v${r.version}`, status: r.status, description: r.description, commit: r.commit?.slice(0, 7),
        artifact: r.artifactSha256 ? `sha256:${r.artifactSha256.slice(0, 12)}` : null, created: `${ago(r.createdAt)} ago`,
        reason: r.reason ? r.reason.slice(0, 80) : null,
      })), ['version', 'status', 'description', 'commit', 'artifact', 'created', 'reason']));
    }));
}
