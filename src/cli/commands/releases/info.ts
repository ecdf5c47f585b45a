import type { Command } from 'commander';
import { client, json, parseVersion, type Io } from '../../context.js';
import { appName, appOption } from '../../app.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('releases:info <version>').description('show a release and its build manifest').addOption(appOption()).option('--json', 'machine-readable output')
    .action((version: string, o: { app?: string; json?: boolean }) => run(async () => {
      const app = await appName(io, o);
      const r = await (await client(io)).release(app, parseVersion(version));
      if (o.json) return json(io, r);
      const b = r.buildManifest;
      io.out(`v${r.version}  ${r.status}${r.brokenReason ? ', broken' : ''}  ${r.description}`);
      if (r.reason) io.out(`Reason:     ${r.reason}`);
      if (r.brokenReason) io.out(`Broken:     ${r.brokenReason} (since ${new Date(r.brokenAt ?? r.updatedAt).toISOString()}; see \`summon releases -a ${app}\` for the rollback)`);
      io.out(`Commit:     ${r.commit ?? '-'}${b ? ` (tree ${b.tree})` : ''}`);
      io.out(`Artifact:   ${r.artifactSha256 ? `sha256:${r.artifactSha256}` : '-'}${b ? ` ${b.artifact.path}, ${b.artifact.size} bytes, target ${b.artifact.target}` : ''}`);
      io.out(`Config:     ${r.configKeys.length ? r.configKeys.join(', ') : '(none)'}`);
      const check = r.verification;
      io.out(`Verified:   ${check ? `${check.result} (${new Date(check.checkedAt).toISOString()})${check.differences.map((x) => `\n            - ${x}`).join('')}` : `not yet (summon releases:verify -a ${app} v${r.version})`}`);
      if (!b) return;
      io.out(`summon.toml sha256:${b.summonTomlSha256}`);
      io.out(`Build:      ${b.build.command ?? '(none: artifact committed)'}`);
      io.out(`Test:       ${b.build.test ?? '(none)'}`);
      io.out(`Platform:   ${b.platform.os}/${b.platform.arch} kernel ${b.platform.kernel}, node ${b.platform.node}, summon ${b.platform.summon}`);
      for (const t of b.toolchain) io.out(`Toolchain:  ${t.command} → ${t.output.split('\n')[0]}${t.exitCode ? ` (exit ${t.exitCode})` : ''}`);
      for (const l of b.lockfiles) io.out(`Lockfile:   ${l.path} sha256:${l.sha256}`);
      for (const s of b.steps) io.out(`Step:       ${s.name.padEnd(10)} ${s.durationMs} ms${s.exitCode !== null ? ` exit ${s.exitCode}` : ''}`);
      io.out(`Built:      ${new Date(b.startedAt).toISOString()} → ${new Date(b.finishedAt).toISOString()}`);
    }));
}
