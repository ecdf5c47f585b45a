// The build pipeline: checkout → manifest → toolchain → lockfiles → build → test → store.
// Every stage is announced Heroku-style ("-----> Building: make") and command output is
// streamed line by line, indented by 7 spaces, as it is produced. The result carries a
// BuildManifest that says exactly how the artifact was made.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, realpath, rm, stat } from 'node:fs/promises';
import { releaseArchOf } from './artifact-arch.js';
import { arch, platform, release as kernelRelease, totalmem } from 'node:os';
import { basename, dirname, isAbsolute, join, sep } from 'node:path';
import { promisify } from 'node:util';
import { BuildError, InvalidInputError, ManifestError } from '../core/errors.js';
import { checkManifestSize, DEFAULT_BUILD_MEMORY_BYTES, parseManifest, type Manifest } from '../core/manifest.js';
import { checkAppName } from '../core/names.js';
import type { BuildManifest, ToolchainVersion } from '../core/types.js';
import { formatDuration, formatSize } from '../core/units.js';
import { watchDisk } from './disk-watch.js';
import type { BlobStore } from '../artifacts/blob-store.js';
import { findLockfiles, lockfileLimits, type LockfileLimits } from './lockfiles.js';
import type { PushRequest } from '../git/push-stream.js';
import { QUARANTINE_VARS } from '../git/push-stream.js';
import { runCommand, type CommandResult } from './run-command.js';
import { recordGroup } from './build-recovery.js';
import { checkTreeSize, DEFAULT_CHECKOUT_LIMITS, type CheckoutLimits } from './tree-size.js';
import type { Confiner } from '../isolation/confine.js';
import type { RunCommandOptions } from './run-command.js';
import { CLEAN_PATH } from '../isolation/clean-path.js';
import { sha256File } from '../artifacts/verify.js';

const execFileP = promisify(execFile);

const INDENT = '       ';
const REV_RE = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

export const SUMMON_TOML_EXAMPLE = [
  '[build]',
  'command  = "make"             # optional if the artifact is committed',
  'artifact = "build/app.exe"',
  '',
  '[run]',
  'target = "process"',
  'args   = ["--port", "{port}"]',
].join('\n');

export interface BuildPipelineOptions {
  /** Build directories are created (and removed) under here. */
  workDir: string;
  blobs: BlobStore;
  summonVersion: string;
  gitPath?: string;
  /** Per `[build].toolchain` command. */
  toolchainTimeoutMs?: number;
  /** Between SIGTERM and SIGKILL when a build times out or is cancelled. */
  killGraceMs?: number;
  /** Lockfiles are sized before they are read and refused past these (lockfiles.ts has the defaults). */
  lockfileLimits?: Partial<LockfileLimits>;
  /** A commit's files are counted from git's listing before checkout and refused past these. */
  checkoutLimits?: Partial<CheckoutLimits>;
  /** Most a build or test step may write into its build directory (default 2G). */
  maxBuildDiskBytes?: number;
  /** How often that is measured while a step runs (default 2 s). */
  diskCheckMs?: number;
  now?: () => number;
  /** Runs every toolchain, build and test command confined (isolation/confine.ts) as the app's user. */
  confiner?: Confiner;
  /** Confined builds: each app's persistent cache is <cacheDir>/<app>, the step's $SUMMON_CACHE_DIR. */
  cacheDir?: string;
  /** Confined builds: host paths a build sees read-only besides /usr and /etc (`--build-ro`). */
  readOnlyPaths?: string[];
}

/** Each step its own cgroup unit: the kill that ends one step can never reach the next. */
function stepUnit(c: NonNullable<RunCommandOptions['confine']>, step: string): NonNullable<RunCommandOptions['confine']> {
  return { ...c, unit: `${c.unit}-${step}` };
}

/** Tasks (processes and threads) a confined build step may have at once. */
export const BUILD_PIDS_LIMIT = 256;

export type BuildRequest = PushRequest & {
  configEnv: Record<string, string>;
  /** A rebuild to verify a release (`releases:verify`): the artifact is hashed and handed to
   *  `inspect` before the build directory goes, and never stored. */
  rebuild?: { inspect: (artifactFile: string, initrdFile: string | null) => Promise<void> };
};

export interface BuildOutcome {
  manifest: Manifest;
  buildManifest: BuildManifest;
  artifactSha256: string;
  initrdSha256: string | null;
}

type Step = BuildManifest['steps'][number];

export class BuildPipeline {
  private readonly workDir: string;
  private readonly blobs: BlobStore;
  private readonly summonVersion: string;
  private readonly gitPath: string;
  private readonly toolchainTimeoutMs: number;
  private readonly killGraceMs: number;
  private readonly lockfileLimits: LockfileLimits;
  private readonly checkoutLimits: CheckoutLimits;
  private readonly maxBuildDiskBytes: number;
  private readonly diskCheckMs: number;
  private readonly now: () => number;
  private readonly confiner: Confiner | undefined;
  private readonly cacheDir: string;
  private readonly readOnlyPaths: string[];

  constructor(opts: BuildPipelineOptions) {
    if (!opts || typeof opts.workDir !== 'string' || !isAbsolute(opts.workDir)) {
      throw new InvalidInputError('BuildPipeline: workDir must be an absolute path', { key: 'workDir' });
    }
    if (!opts.blobs) throw new InvalidInputError('BuildPipeline: blobs is required', { key: 'blobs' });
    if (typeof opts.summonVersion !== 'string' || !opts.summonVersion) {
      throw new InvalidInputError('BuildPipeline: summonVersion is required', { key: 'summonVersion' });
    }
    this.workDir = opts.workDir;
    this.blobs = opts.blobs;
    this.summonVersion = opts.summonVersion;
    this.gitPath = opts.gitPath ?? 'git';
    this.toolchainTimeoutMs = opts.toolchainTimeoutMs ?? 15_000;
    this.killGraceMs = opts.killGraceMs ?? 3000;
    this.lockfileLimits = lockfileLimits(opts.lockfileLimits);
    this.checkoutLimits = { ...DEFAULT_CHECKOUT_LIMITS, ...opts.checkoutLimits };
    for (const [k, v] of Object.entries(this.checkoutLimits)) {
      if (!Number.isSafeInteger(v) || v < 1) throw new InvalidInputError(`BuildPipeline: checkoutLimits.${k} must be a whole number ≥ 1, got ${String(v)}`, { key: `checkoutLimits.${k}` });
    }
    this.maxBuildDiskBytes = opts.maxBuildDiskBytes ?? 2 * 1024 ** 3;
    this.diskCheckMs = opts.diskCheckMs ?? 2000;
    if (!Number.isSafeInteger(this.maxBuildDiskBytes) || this.maxBuildDiskBytes < 1024 * 1024) {
      throw new InvalidInputError(`BuildPipeline: maxBuildDiskBytes must be a whole number ≥ 1M, got ${String(opts.maxBuildDiskBytes)}`, { key: 'maxBuildDiskBytes' });
    }
    this.now = opts.now ?? Date.now;
    this.confiner = opts.confiner;
    this.cacheDir = opts.cacheDir ?? join(opts.workDir, '..', 'build-cache');
    this.readOnlyPaths = opts.readOnlyPaths ?? [];
    for (const p of this.readOnlyPaths) {
      if (!isAbsolute(p)) throw new InvalidInputError(`--build-ro needs an absolute path, got ${JSON.stringify(p)}`, { key: 'readOnlyPaths' });
    }
  }

  async run(req: BuildRequest, out: (line: string) => void, signal?: AbortSignal): Promise<BuildOutcome> {
    checkAppName(req.app);
    if (!REV_RE.test(req.newRev)) throw new InvalidInputError(`newRev must be a full object id, got ${JSON.stringify(req.newRev)}`);
    if (!isAbsolute(req.gitDir)) throw new InvalidInputError('gitDir must be an absolute path');
    const startedAt = this.now();
    const steps: Step[] = [];
    const timed = async <T>(name: string, fn: () => Promise<T>, exitCode?: (v: T) => number | null): Promise<T> => {
      const t0 = this.now();
      const v = await fn();
      steps.push({ name, startedAt: t0, durationMs: this.now() - t0, exitCode: exitCode ? exitCode(v) : null });
      return v;
    };
    const checkAbort = () => {
      if (signal?.aborted) throw new BuildError('build_failed', 'the build was cancelled');
    };

    await mkdir(this.workDir, { recursive: true });
    const buildDir = await mkdtemp(join(this.workDir, `${req.app}-`));
    // Every process group this build starts is noted beside its directory, so a Summon killed
    // mid-build can kill them at its next start (build-recovery.ts).
    const groupsFile = `${buildDir}.groups`;
    const onSpawn = (pgid: number) => recordGroup(groupsFile, pgid);
    try {
      const src = join(buildDir, 'src');
      const home = join(buildDir, 'home');
      const tmp = join(buildDir, 'tmp');
      await Promise.all([mkdir(src), mkdir(home), mkdir(tmp)]);

      // Checkout
      out(`-----> Checking out ${req.newRev.slice(0, 7)}`);
      const { commit, tree } = await timed('checkout', () => this.checkout(req, buildDir, src));
      checkAbort();

      // Manifest
      const tomlPath = await this.resolveInside(src, 'summon.toml', 'manifest');
      if (tomlPath === null) {
        throw new ManifestError(
          'summon.toml',
          '',
          `not found at the repository root. Add summon.toml at the root of the repository, for example:\n\n${SUMMON_TOML_EXAMPLE}\n`,
        );
      }
      // The size is checked before the file is read: a huge summon.toml is refused unread.
      checkManifestSize((await stat(tomlPath)).size);
      const tomlBytes = await readFile(tomlPath);
      const manifest = parseManifest(tomlBytes.toString('utf8'), 'summon.toml', { maxMemoryBytes: totalmem() });
      const summonTomlSha256 = sha256(tomlBytes);
      // Confined: the checkout becomes the app user's, with its persistent cache beside it.
      let confine: RunCommandOptions['confine'];
      let cacheEnv: Record<string, string> = {};
      if (this.confiner) {
        const uid = await this.confiner.uids.uidFor(req.app);
        const cache = join(this.cacheDir, req.app);
        await this.confiner.own(buildDir, uid);
        await this.confiner.own(cache, uid);
        cacheEnv = { SUMMON_CACHE_DIR: cache };
        confine = {
          confiner: this.confiner, app: req.app, unit: `build-${basename(buildDir)}`,
          rw: [buildDir, cache], ro: this.readOnlyPaths, network: 'host',
          limits: { memoryBytes: manifest.build.memoryBytes ?? DEFAULT_BUILD_MEMORY_BYTES, pids: BUILD_PIDS_LIMIT },
        };
      }
      out(`-----> Manifest: target ${manifest.run.target}, artifact ${manifest.build.artifact}`);

      const env: Record<string, string> = {
        ...req.configEnv,
        PATH: CLEAN_PATH,
        HOME: home,
        LANG: 'C.UTF-8',
        TMPDIR: tmp,
        SUMMON_APP: req.app,
        SOURCE_VERSION: commit,
        ...cacheEnv,
      };

      // Toolchain
      const toolchain: ToolchainVersion[] = [];
      if (manifest.build.toolchain.length > 0) {
        out('-----> Toolchain');
        await timed('toolchain', async () => {
          for (const [i, command] of manifest.build.toolchain.entries()) {
            const r = await runCommand({ command, cwd: src, env, timeoutMs: this.toolchainTimeoutMs, signal, killGraceMs: 500, onSpawn, ...(confine ? { confine: stepUnit(confine, `toolchain${i}`) } : {}) });
            const output = r.output.trim().slice(0, 4096);
            toolchain.push({ command, output, exitCode: r.exitCode ?? -1 });
            out(`${INDENT}${command}: ${output.split('\n')[0] || '(no output)'}${r.exitCode === 0 ? '' : ` (exit ${r.exitCode ?? r.signal})`}`);
          }
        });
        checkAbort();
      }

      // Lockfiles
      const lockfiles = await timed('lockfiles', () => findLockfiles(src, this.lockfileLimits));
      if (lockfiles.length > 0) {
        out('-----> Lockfiles');
        for (const l of lockfiles) out(`${INDENT}${l.path} sha256 ${l.sha256.slice(0, 12)}`);
      }

      // Build and test
      const deadline = startedAt + manifest.build.timeoutMs;
      if (manifest.build.command) {
        out(`-----> Building: ${manifest.build.command}`);
        await this.command('build', manifest.build.command, 'build_failed', { src, env, deadline, timeoutMs: manifest.build.timeoutMs, out, signal, steps, onSpawn, confine, memoryBytes: manifest.build.memoryBytes ?? DEFAULT_BUILD_MEMORY_BYTES });
      } else {
        out('-----> No [build].command: using the committed artifact');
      }
      if (manifest.build.test) {
        out(`-----> Testing: ${manifest.build.test}`);
        await this.command('test', manifest.build.test, 'test_failed', { src, env, deadline, timeoutMs: manifest.build.timeoutMs, out, signal, steps, onSpawn, confine, memoryBytes: manifest.build.memoryBytes ?? DEFAULT_BUILD_MEMORY_BYTES });
      }
      checkAbort();

      // Store
      const { artifact, initrd, arch: artifactArch } = await timed('store', async () => {
        const artifactFile = await this.requireFile(src, manifest.build.artifact, 'artifact', '[build].artifact');
        const initrdFile = manifest.run.initrd ? await this.requireFile(src, manifest.run.initrd, 'initrd', '[run].initrd') : null;
        // Before anything is stored: a [run].arch the artifact contradicts fails the build.
        const archOf = await releaseArchOf(artifactFile, manifest.run.arch, manifest.build.artifact);
        if (archOf.arch) out(`-----> Architecture: ${archOf.arch} (${archOf.archFrom})`);
        else if (archOf.detected) out(`-----> Architecture: not one Summon runs (${archOf.detected.how})`);
        if (req.rebuild) {
          const hash = async (f: string) => ({ sha256: await sha256File(f), size: (await stat(f)).size });
          const artifact = await hash(artifactFile);
          const initrd = initrdFile ? await hash(initrdFile) : null;
          out(`-----> Rebuilt artifact (${kb(artifact.size)} KB, sha256 ${artifact.sha256.slice(0, 12)}…): not stored`);
          await req.rebuild.inspect(artifactFile, initrdFile);
          return { artifact, initrd, arch: { ...(archOf.arch ? { arch: archOf.arch } : {}), ...(archOf.archFrom ? { archFrom: archOf.archFrom } : {}) } };
        }
        const artifact = await this.blobs.put(artifactFile);
        out(`-----> Storing artifact (${kb(artifact.size)} KB, sha256 ${artifact.sha256.slice(0, 12)}…)`);
        let initrd: { sha256: string; size: number } | null = null;
        if (initrdFile) {
          initrd = await this.blobs.put(initrdFile);
          out(`-----> Storing initrd (${kb(initrd.size)} KB, sha256 ${initrd.sha256.slice(0, 12)}…)`);
        }
        return { artifact, initrd, arch: { ...(archOf.arch ? { arch: archOf.arch } : {}), ...(archOf.archFrom ? { archFrom: archOf.archFrom } : {}) } };
      });

      const finishedAt = this.now();
      const buildManifest: BuildManifest = {
        schema: 'summon.build/v1',
        app: req.app,
        commit,
        tree,
        ref: req.ref,
        summonTomlSha256,
        build: { command: manifest.build.command ?? null, test: manifest.build.test ?? null, timeoutMs: manifest.build.timeoutMs },
        platform: { os: await osName(), arch: arch(), kernel: kernelRelease(), node: process.version, summon: this.summonVersion },
        toolchain,
        lockfiles,
        artifact: {
          path: manifest.build.artifact,
          sha256: artifact.sha256,
          size: artifact.size,
          target: manifest.run.target,
          ...(initrd ? { initrdSha256: initrd.sha256 } : {}),
          ...artifactArch,
        },
        steps,
        startedAt,
        finishedAt,
      };
      out(`-----> Build finished in ${formatDuration(finishedAt - startedAt)}`);
      return { manifest, buildManifest, artifactSha256: artifact.sha256, initrdSha256: initrd?.sha256 ?? null };
    } finally {
      await removeTree(buildDir);
      await rm(groupsFile, { force: true });
    }
  }

  /** Checks newRev out into `src` using a private index, reading quarantined objects. */
  private async checkout(req: BuildRequest, buildDir: string, src: string): Promise<{ commit: string; tree: string }> {
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? CLEAN_PATH,
      HOME: join(buildDir, 'home'),
      LANG: 'C.UTF-8',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_DIR: req.gitDir,
      // Our own index: the bare repository's is never touched, so builds can run in parallel.
      GIT_INDEX_FILE: join(buildDir, 'index'),
    };
    for (const k of QUARANTINE_VARS) {
      const v = req.gitEnv?.[k];
      if (v) env[k] = v;
    }
    const git = async (args: string[]) => {
      try {
        const { stdout } = await execFileP(this.gitPath, args, { env, maxBuffer: 16 * 1024 * 1024 });
        return stdout.trim();
      } catch (e) {
        const err = e as { stderr?: string; message: string };
        throw new BuildError('build_failed', `could not check out ${req.newRev.slice(0, 7)}: ${(err.stderr || err.message).trim()}`);
      }
    };
    const commit = await git(['rev-parse', '--verify', '--end-of-options', `${req.newRev}^{commit}`]);
    const tree = await git(['rev-parse', '--verify', '--end-of-options', `${commit}^{tree}`]);
    await checkTreeSize(this.gitPath, tree, env, this.checkoutLimits);
    await git(['read-tree', '--end-of-options', tree]);
    await git(['--work-tree', src, 'checkout-index', '--all', '--force']);
    return { commit, tree };
  }

  private async command(
    name: 'build' | 'test',
    command: string,
    code: 'build_failed' | 'test_failed',
    ctx: {
      src: string;
      env: Record<string, string>;
      deadline: number;
      timeoutMs: number;
      out: (l: string) => void;
      signal?: AbortSignal;
      steps: Step[];
      onSpawn: (pgid: number) => void;
      confine: RunCommandOptions['confine'];
      memoryBytes: number;
    },
  ): Promise<CommandResult> {
    const remaining = ctx.deadline - this.now();
    const what = name === 'build' ? 'build command' : 'test command';
    const t0 = this.now();
    // The step is stopped, like a timeout, once its build directory passes the disk limit.
    const quota = new AbortController();
    let overBytes = 0;
    const disk = watchDisk(dirname(ctx.src), this.maxBuildDiskBytes, (bytes) => {
      overBytes = bytes;
      quota.abort();
    }, this.diskCheckMs);
    const signal = ctx.signal ? AbortSignal.any([ctx.signal, quota.signal]) : quota.signal;
    const r =
      remaining <= 0
        ? ({ exitCode: null, signal: null, timedOut: true, aborted: false, durationMs: 0, output: '', tail: [] } as CommandResult)
        : await runCommand({
            command,
            cwd: ctx.src,
            env: ctx.env,
            timeoutMs: remaining,
            signal,
            killGraceMs: this.killGraceMs,
            onLine: (l) => ctx.out(INDENT + l),
            onSpawn: ctx.onSpawn,
            ...(ctx.confine ? { confine: stepUnit(ctx.confine, name) } : {}),
          });
    disk.stop();
    ctx.steps.push({ name, startedAt: t0, durationMs: this.now() - t0, exitCode: r.exitCode });
    const lastLines = r.tail.slice(-10);
    const details = { command, exitCode: r.exitCode, signal: r.signal, tail: lastLines };
    const tailText = lastLines.length ? `\nlast lines of output:\n${lastLines.map((l) => INDENT + l).join('\n')}` : '';
    if (overBytes > 0) {
      throw new BuildError(code, `${what} wrote ${formatSize(overBytes)} into its build directory, past the ${formatSize(this.maxBuildDiskBytes)} limit (summon up --max-build-disk); it was stopped: ${command}${tailText}`, details);
    }
    if (r.aborted) throw new BuildError(code, `the build was cancelled during the ${what}`, details);
    if (r.oomKilled && r.exitCode !== 0) {
      throw new BuildError(code, `${what} ran out of memory: it went over the build's ${formatSize(ctx.memoryBytes)} limit ([build].memory in summon.toml) and the kernel killed it: ${command}${tailText}`, details);
    }
    if (r.timedOut) {
      throw new BuildError(code, `${what} timed out after ${formatDuration(ctx.timeoutMs)} ([build].timeout): ${command}${tailText}`, details);
    }
    if (r.exitCode !== 0) {
      const how = r.exitCode === null ? `was killed by ${r.signal}` : `failed with exit code ${r.exitCode}`;
      throw new BuildError(code, `${what} ${how}: ${command}${tailText}`, details);
    }
    return r;
  }

  /**
   * Resolves `rel` inside the checkout, following symlinks. Returns null when nothing is
   * there; throws when it resolves outside the checkout.
   */
  private async resolveInside(src: string, rel: string, what: string): Promise<string | null> {
    const p = join(src, rel);
    try {
      await lstat(p);
    } catch {
      return null;
    }
    let real: string;
    try {
      real = await realpath(p);
    } catch {
      throw new BuildError('build_failed', `${what} ${rel} is a symlink to a path that does not exist`, { path: rel, reason: 'dangling symlink' });
    }
    const root = await realpath(src);
    if (real !== root && !real.startsWith(root + sep)) {
      throw new BuildError('build_failed', `${what} ${rel} resolves outside the checkout (to ${real}); it must be a file inside the repository`, {
        path: rel,
        reason: 'outside checkout',
      });
    }
    return real;
  }

  private async requireFile(src: string, rel: string, what: string, key: string): Promise<string> {
    const real = await this.resolveInside(src, rel, what);
    if (real === null) {
      throw new BuildError('build_failed', `${what} ${rel} does not exist after the build: check ${key} and that the build command writes it`, {
        path: rel,
        reason: 'missing',
      });
    }
    const st = await stat(real);
    if (!st.isFile()) {
      throw new BuildError('build_failed', `${what} ${rel} is not a regular file (${st.isDirectory() ? 'a directory' : 'a special file'}): ${key} must name the built image`, {
        path: rel,
        reason: 'not a regular file',
      });
    }
    return real;
  }
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

function kb(bytes: number): string {
  return Math.max(1, Math.round(bytes / 1024)).toLocaleString('en-US');
}

async function osName(): Promise<string> {
  try {
    const text = await readFile('/etc/os-release', 'utf8');
    const m = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(text);
    if (m) return m[1];
  } catch {
    // Not every system has os-release; the platform name is enough then.
  }
  return platform();
}

/** Removes a build dir even if the build made parts of it read-only. */
async function removeTree(dir: string): Promise<void> {
  try {
    await rm(dir, { recursive: true, force: true, maxRetries: 2 });
  } catch {
    await makeWritable(dir);
    await rm(dir, { recursive: true, force: true });
  }
}

async function makeWritable(dir: string): Promise<void> {
  try {
    await chmod(dir, 0o700);
    for (const e of await readdir(dir, { withFileTypes: true })) {
      if (e.isDirectory()) await makeWritable(join(dir, e.name));
    }
  } catch {
    // Best effort; rm reports what is left.
  }
}
