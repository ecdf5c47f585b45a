// [test].smoke: a release's smoke commands, run against one started, healthy instance of it that
// the router does not send traffic to yet (the controller's deploy gate holds it out of the
// route table). They run one after another, with sh, confined as the app's user like a build
// step, in a checkout of the release's commit when a repository has it (else an empty
// directory), with the release's config vars and $SUMMON_TEST_URL; together within
// [test].timeout. The first that fails (or the timeout) fails the release with its output.
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Release, SmokeRecord } from '../core/types.js';
import { formatDuration } from '../core/units.js';
import { CLEAN_PATH } from '../isolation/clean-path.js';
import type { Confiner } from '../isolation/confine.js';
import { runCommand } from '../builder/run-command.js';
import { BUILD_PIDS_LIMIT } from '../builder/pipeline.js';
import { DEFAULT_BUILD_MEMORY_BYTES } from '../core/manifest.js';
import { recordGroup } from '../builder/build-recovery.js';
import { QUARANTINE_VARS } from '../git/push-stream.js';

const INDENT = '       ';
/** Output kept per command in the record (its last bytes). */
export const SMOKE_OUTPUT_KEPT = 4096;

export interface SmokeRunnerOptions {
  /** Smoke directories are made (and removed) under here. */
  workDir: string;
  confiner?: Confiner;
  /** The bare repositories that may hold a release's commit, most likely first. */
  gitDirsOf?: (release: Release) => string[];
  killGraceMs?: number;
  now?: () => number;
}

export interface SmokeRun {
  release: Release;
  config: Record<string, string>;
  instance: { id: string; address: string; port: number };
  out: (line: string) => void;
  signal?: AbortSignal;
  /** Where the commit is when no repository has it yet: a push's quarantined objects. */
  source?: { gitDir: string; gitEnv: Record<string, string> };
}

export class SmokeRunner {
  private readonly now: () => number;
  constructor(private readonly o: SmokeRunnerOptions) {
    this.now = o.now ?? Date.now;
  }

  async run(r: SmokeRun): Promise<SmokeRecord> {
    const test = r.release.manifest?.test;
    const commands = test?.smoke ?? [];
    const timeoutMs = test?.timeoutMs ?? 60_000;
    const host = r.instance.address.includes(':') ? `[${r.instance.address}]` : r.instance.address;
    const url = `http://${host}:${r.instance.port}`;
    const startedAt = this.now();
    const record: SmokeRecord = { result: 'passed', instance: r.instance.id, url, startedAt, durationMs: 0, timeoutMs, steps: [], reason: null };
    const app = r.release.app;
    await mkdir(this.o.workDir, { recursive: true });
    const dir = await mkdtemp(join(this.o.workDir, `${app}-smoke-`));
    try {
      const src = join(dir, 'src');
      const home = join(dir, 'home');
      const tmp = join(dir, 'tmp');
      await Promise.all([mkdir(src), mkdir(home), mkdir(tmp)]);
      const checkedOut = r.release.commit ? await this.checkout(r.release, src, r.source) : false;
      r.out(`-----> Smoke tests against ${r.instance.id} (${url}, no traffic yet)${checkedOut ? '' : ' in an empty directory (no repository here has the commit)'}`);
      let confine: Parameters<typeof runCommand>[0]['confine'];
      if (this.o.confiner) {
        const uid = await this.o.confiner.uids.uidFor(app);
        await this.o.confiner.own(dir, uid);
        confine = {
          confiner: this.o.confiner, app, unit: `smoke-${app}-v${r.release.version}`, rw: [dir], ro: [], network: 'host',
          limits: { memoryBytes: DEFAULT_BUILD_MEMORY_BYTES, pids: BUILD_PIDS_LIMIT },
        };
      }
      const env: Record<string, string> = {
        ...r.config, PATH: CLEAN_PATH, HOME: home, TMPDIR: tmp, LANG: 'C.UTF-8',
        SUMMON_APP: app, SUMMON_RELEASE: `v${r.release.version}`, SUMMON_TEST_URL: url,
        ...(r.release.commit ? { SOURCE_VERSION: r.release.commit } : {}),
      };
      const deadline = startedAt + timeoutMs;
      for (const [i, command] of commands.entries()) {
        r.out(`-----> Smoke: ${command}`);
        const t0 = this.now();
        const remaining = deadline - t0;
        const res = remaining <= 0
          ? { exitCode: null, signal: null, timedOut: true, aborted: false, output: '', tail: [] as string[] }
          : await runCommand({
            command, cwd: src, env, timeoutMs: remaining, killGraceMs: this.o.killGraceMs ?? 1000,
            onLine: (l) => r.out(INDENT + l), captureBytes: 1024 * 1024, tailLines: 10,
            // Noted beside the directory: a Summon killed meanwhile kills them at its next start.
            onSpawn: (pgid) => recordGroup(`${dir}.groups`, pgid),
            ...(r.signal ? { signal: r.signal } : {}),
            ...(confine ? { confine: { ...confine, unit: `${confine.unit}-${i}` } } : {}),
          });
        const output = res.output.length > SMOKE_OUTPUT_KEPT ? res.output.slice(-SMOKE_OUTPUT_KEPT) : res.output;
        record.steps.push({ command, exitCode: res.exitCode, timedOut: res.timedOut, durationMs: this.now() - t0, output });
        if (res.exitCode === 0 && !res.timedOut) continue;
        const how = res.aborted ? 'was cancelled (the rollout ended)'
          : res.timedOut ? `timed out: the smoke commands together may take ${formatDuration(timeoutMs)} ([test].timeout)`
          : res.exitCode === null ? `was killed by ${res.signal}` : `failed with exit code ${res.exitCode}`;
        const tail = res.tail.length ? `\nlast lines of output:\n${res.tail.map((l) => INDENT + l).join('\n')}` : '';
        record.result = 'failed';
        record.reason = `smoke test ${how}: ${command}${tail}`;
        break;
      }
    } catch (e) {
      record.result = 'failed';
      record.reason = `smoke tests could not run: ${e instanceof Error ? e.message : String(e)}`;
    } finally {
      await rm(dir, { recursive: true, force: true, maxRetries: 2 }).catch(() => undefined);
      await rm(`${dir}.groups`, { force: true });
    }
    record.durationMs = this.now() - startedAt;
    r.out(record.result === 'passed' ? `-----> Smoke tests passed (${commands.length}, ${formatDuration(record.durationMs)})` : `-----> Smoke tests failed`);
    return record;
  }

  /** The release's commit checked out into `src` from the first repository that has it. */
  private async checkout(release: Release, src: string, source?: SmokeRun['source']): Promise<boolean> {
    const places = [
      ...(source ? [{ gitDir: source.gitDir, env: quarantine(source.gitEnv) }] : []),
      ...(this.o.gitDirsOf?.(release) ?? []).map((gitDir) => ({ gitDir, env: {} })),
    ];
    for (const { gitDir, env: extra } of places) {
      const env = { ...process.env, ...extra };
      const ok = await new Promise<boolean>((resolve) => {
        execFile('git', ['--git-dir', gitDir, 'cat-file', '-e', '--end-of-options', `${release.commit}^{commit}`], { env }, (err) => resolve(!err));
      });
      if (!ok) continue;
      // git archive | tar -x: the commit's files only, never the repository's hooks or config.
      await new Promise<void>((resolve, reject) => {
        const archive = spawn('git', ['--git-dir', gitDir, 'archive', '--format=tar', '--end-of-options', release.commit!], { env, stdio: ['ignore', 'pipe', 'ignore'] });
        const tar = spawn('tar', ['-x', '-C', src, '--no-same-owner'], { stdio: ['pipe', 'ignore', 'pipe'] });
        archive.stdout.pipe(tar.stdin);
        let err = '';
        tar.stderr.on('data', (b: Buffer) => (err += b.toString()));
        archive.on('error', reject);
        tar.on('error', reject);
        tar.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`checkout of ${release.commit!.slice(0, 7)} failed: ${err.trim()}`))));
      });
      return true;
    }
    return false;
  }
}

/** Only git's quarantine variables of a push's environment. */
function quarantine(gitEnv: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of QUARANTINE_VARS) if (gitEnv[k]) env[k] = gitEnv[k];
  return env;
}
