import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { BuildError, ManifestError, SummonError } from '../core/errors.js';
import { BlobStore } from '../artifacts/blob-store.js';
import { BuildPipeline } from './pipeline.js';
import { CLEAN_PATH } from '../isolation/clean-path.js';
import { scaled, waitFor } from '../testing/wait.js';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
// dist/src/builder -> repository root
const repoRoot = resolve(here, '../../..');

type FileSpec = string | { symlink: string } | { dir: true };

interface Fixture {
  root: string;
  workDir: string;
  blobs: BlobStore;
  pipeline: BuildPipeline;
}

async function fixture(t: { after: (fn: () => Promise<void>) => void }, opts: { killGraceMs?: number; maxBuildDiskBytes?: number; diskCheckMs?: number } = {}): Promise<Fixture> {
  const root = await mkdtemp(join(tmpdir(), 'summon-pipeline-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const workDir = join(root, 'work');
  const blobs = new BlobStore({ dir: join(root, 'blobs') });
  const pipeline = new BuildPipeline({ workDir, blobs, summonVersion: '0.1.0-test', killGraceMs: opts.killGraceMs ?? 500, ...opts });
  return { root, workDir, blobs, pipeline };
}

const gitEnv = { ...process.env, GIT_CONFIG_NOSYSTEM: '1', HOME: tmpdir() };

async function git(cwd: string, args: string[]): Promise<string> {
  const { stdout } = await run('git', ['-c', 'user.name=Test', '-c', 'user.email=test@example.com', ...args], { cwd, env: gitEnv });
  return stdout.trim();
}

/** A committed repository; returns its git dir and HEAD commit. */
async function makeRepo(root: string, files: Record<string, FileSpec>): Promise<{ gitDir: string; commit: string; tree: string }> {
  const dir = await mkdtemp(join(root, 'repo-'));
  await git(dir, ['init', '--quiet', '--initial-branch=main']);
  for (const [path, spec] of Object.entries(files)) {
    const p = join(dir, path);
    await mkdir(dirname(p), { recursive: true });
    if (typeof spec === 'string') await writeFile(p, spec);
    else if ('symlink' in spec) await symlink(spec.symlink, p);
    else await mkdir(p, { recursive: true });
  }
  await git(dir, ['add', '-A']);
  await git(dir, ['commit', '--quiet', '-m', 'test']);
  return { gitDir: join(dir, '.git'), commit: await git(dir, ['rev-parse', 'HEAD']), tree: await git(dir, ['rev-parse', 'HEAD^{tree}']) };
}

function request(repo: { gitDir: string; commit: string }, configEnv: Record<string, string> = {}) {
  return {
    app: 'demo',
    oldRev: '0'.repeat(40),
    newRev: repo.commit,
    ref: 'refs/heads/main',
    gitDir: repo.gitDir,
    gitEnv: {},
    configEnv,
  };
}

function collect(): { lines: string[]; out: (l: string) => void } {
  const lines: string[] = [];
  return { lines, out: (l) => lines.push(l) };
}

async function assertWorkDirEmpty(workDir: string): Promise<void> {
  assert.deepEqual(await readdir(workDir), [], 'the build dir is removed');
}

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

test('a good build checks out, builds, tests, hashes lockfiles and stores the artifact', async (t) => {
  const f = await fixture(t);
  const toml = [
    '[build]',
    'command = "mkdir -p out && echo building; printf \'app=%s commit=%s\\n\' \\"$SUMMON_APP\\" \\"$SOURCE_VERSION\\" > out/app && echo warn >&2"',
    'artifact = "out/app"',
    'test = "grep -q app=demo out/app && echo tests passed"',
    'timeout = "30s"',
    'toolchain = ["echo tool 1.2.3", "echo broken >&2; exit 3"]',
    '',
  ].join('\n');
  const repo = await makeRepo(f.root, {
    'summon.toml': toml,
    'package-lock.json': '{"lockfileVersion":3}',
    'sub/Cargo.lock': 'cargo',
    'node_modules/x/yarn.lock': 'ignored',
    'dune.lock/a.pkg': 'a',
    'dune.lock/b/c.pkg': 'c',
    'app.opam.locked': 'opam',
    'README.md': 'not a lockfile',
  });
  const { lines, out } = collect();
  const res = await f.pipeline.run(request(repo), out);

  const blob = await readFile(f.blobs.path(res.artifactSha256), 'utf8');
  assert.equal(blob, `app=demo commit=${repo.commit}\n`);
  assert.equal(res.artifactSha256, sha(blob));
  assert.equal(res.initrdSha256, null);
  assert.equal(res.manifest.build.artifact, 'out/app');

  // Announcements and indented output, in order.
  const idx = (s: string) => lines.findIndex((l) => l === s || l.startsWith(s));
  assert.ok(idx(`-----> Checking out ${repo.commit.slice(0, 7)}`) >= 0, lines.join('\n'));
  assert.ok(idx('-----> Building: mkdir -p out') > idx('-----> Checking out'));
  assert.ok(idx('       building') > idx('-----> Building:'));
  assert.ok(idx('       warn') > idx('-----> Building:'), 'stderr is streamed too');
  assert.ok(idx('-----> Testing: grep') > idx('       building'));
  assert.ok(idx('       tests passed') > idx('-----> Testing:'));
  const store = lines.find((l) => l.startsWith('-----> Storing artifact'));
  assert.match(store ?? '', new RegExp(`^-----> Storing artifact \\(1 KB, sha256 ${res.artifactSha256.slice(0, 12)}…\\)$`));

  const bm = res.buildManifest;
  assert.equal(bm.schema, 'summon.build/v1');
  assert.equal(bm.app, 'demo');
  assert.equal(bm.commit, repo.commit);
  assert.equal(bm.tree, repo.tree);
  assert.equal(bm.ref, 'refs/heads/main');
  assert.equal(bm.summonTomlSha256, sha(toml));
  assert.deepEqual(bm.build, { command: res.manifest.build.command, test: res.manifest.build.test, timeoutMs: 30_000 });
  assert.equal(bm.platform.node, process.version);
  assert.equal(bm.platform.summon, '0.1.0-test');
  assert.ok(bm.platform.kernel.length > 0 && bm.platform.os.length > 0);
  assert.deepEqual(bm.toolchain, [
    { command: 'echo tool 1.2.3', output: 'tool 1.2.3', exitCode: 0 },
    { command: 'echo broken >&2; exit 3', output: 'broken', exitCode: 3 },
  ]);
  assert.deepEqual(
    bm.lockfiles.map((l) => l.path),
    ['app.opam.locked', 'dune.lock', 'package-lock.json', 'sub/Cargo.lock'],
  );
  assert.equal(bm.lockfiles.find((l) => l.path === 'package-lock.json')?.sha256, sha('{"lockfileVersion":3}'));
  assert.equal(bm.lockfiles.find((l) => l.path === 'sub/Cargo.lock')?.sha256, sha('cargo'));
  assert.match(bm.lockfiles.find((l) => l.path === 'dune.lock')?.sha256 ?? '', /^[0-9a-f]{64}$/);
  assert.deepEqual(bm.artifact, { path: 'out/app', sha256: res.artifactSha256, size: Buffer.byteLength(blob), target: 'process' });
  assert.deepEqual(
    bm.steps.map((s) => s.name),
    ['checkout', 'toolchain', 'lockfiles', 'build', 'test', 'store'],
  );
  assert.equal(bm.steps.find((s) => s.name === 'build')?.exitCode, 0);
  assert.equal(bm.steps.find((s) => s.name === 'test')?.exitCode, 0);
  assert.ok(bm.steps.every((s) => s.durationMs >= 0 && s.startedAt >= bm.startedAt));
  assert.ok(bm.finishedAt >= bm.startedAt);
  await assertWorkDirEmpty(f.workDir);
});

test('the dune.lock digest depends on contents, not on the order files were written', async (t) => {
  const f = await fixture(t);
  const toml = '[build]\nartifact = "a"\n';
  const one = await makeRepo(f.root, { 'summon.toml': toml, a: 'x', 'dune.lock/a': '1', 'dune.lock/b': '2' });
  const two = await makeRepo(f.root, { 'summon.toml': toml, a: 'x', 'dune.lock/b': '2', 'dune.lock/a': '1' });
  const three = await makeRepo(f.root, { 'summon.toml': toml, a: 'x', 'dune.lock/b': '2', 'dune.lock/a': 'changed' });
  const d = async (r: typeof one) => (await f.pipeline.run(request(r), () => {})).buildManifest.lockfiles[0].sha256;
  assert.equal(await d(one), await d(two));
  assert.notEqual(await d(one), await d(three));
});

test('a failing build command fails with its exit code and last output lines', async (t) => {
  const f = await fixture(t);
  const repo = await makeRepo(f.root, {
    'summon.toml': '[build]\ncommand = "echo compiling; echo \\"error: missing semicolon\\" >&2; exit 3"\nartifact = "out/app"\ntest = "echo should-not-run"\n',
  });
  const { lines, out } = collect();
  await assert.rejects(f.pipeline.run(request(repo), out), (e: unknown) => {
    assert.ok(e instanceof BuildError);
    assert.equal(e.code, 'build_failed');
    assert.match(e.message, /exit code 3/);
    assert.match(e.message, /error: missing semicolon/);
    assert.match(e.message, /compiling/);
    return true;
  });
  assert.ok(lines.includes('       error: missing semicolon'));
  assert.ok(!lines.some((l) => l.includes('should-not-run')), 'tests do not run after a failed build');
  await assertWorkDirEmpty(f.workDir);
});

test('a failing test command fails the build as test_failed', async (t) => {
  const f = await fixture(t);
  const repo = await makeRepo(f.root, {
    'summon.toml': '[build]\ncommand = "echo ok > app"\nartifact = "app"\ntest = "echo \\"1 of 3 tests failed\\"; exit 1"\n',
  });
  const { lines, out } = collect();
  await assert.rejects(f.pipeline.run(request(repo), out), (e: unknown) => {
    assert.ok(e instanceof BuildError);
    assert.equal(e.code, 'test_failed');
    assert.match(e.message, /test command failed with exit code 1/);
    assert.match(e.message, /1 of 3 tests failed/);
    return true;
  });
  assert.ok(!lines.some((l) => l.startsWith('-----> Storing')));
  assert.deepEqual(await readdir(f.blobs.dir).catch(() => []), [], 'nothing stored');
  await assertWorkDirEmpty(f.workDir);
});

test('a repository without summon.toml is refused with an example to add', async (t) => {
  const f = await fixture(t);
  const repo = await makeRepo(f.root, { 'README.md': 'hi' });
  await assert.rejects(f.pipeline.run(request(repo), () => {}), (e: unknown) => {
    assert.ok(e instanceof ManifestError);
    assert.equal(e.code, 'invalid_manifest');
    assert.match(e.message, /^summon\.toml: not found at the repository root/);
    assert.match(e.message, /Add summon\.toml/);
    assert.match(e.message, /\[build\]\s*\ncommand/);
    return true;
  });
  await assertWorkDirEmpty(f.workDir);
});

test('an invalid summon.toml is refused naming the key', async (t) => {
  const f = await fixture(t);
  const repo = await makeRepo(f.root, { 'summon.toml': '[build]\nartifact = "a"\ncomand = "make"\n' });
  await assert.rejects(f.pipeline.run(request(repo), () => {}), (e: unknown) => {
    assert.ok(e instanceof ManifestError);
    assert.equal(e.key, 'build.comand');
    return true;
  });
  await assertWorkDirEmpty(f.workDir);
});

test('a missing artifact fails naming the path', async (t) => {
  const f = await fixture(t);
  const repo = await makeRepo(f.root, { 'summon.toml': '[build]\ncommand = "true"\nartifact = "_build/main.exe"\n' });
  await assert.rejects(f.pipeline.run(request(repo), () => {}), (e: unknown) => {
    assert.ok(e instanceof BuildError);
    assert.match(e.message, /artifact _build\/main\.exe does not exist after the build/);
    return true;
  });
  await assertWorkDirEmpty(f.workDir);
});

test('a lockfile past the limit fails the build before the build command runs, naming file, size and limit', async (t) => {
  const f = await fixture(t);
  const pipeline = new BuildPipeline({ workDir: f.workDir, blobs: f.blobs, summonVersion: '0.1.0-test', lockfileLimits: { maxFileBytes: 1024 } });
  const repo = await makeRepo(f.root, {
    'summon.toml': '[build]\ncommand = "echo built > app"\nartifact = "app"\n',
    'sub/yarn.lock': 'x'.repeat(2048),
  });
  const { lines, out } = collect();
  await assert.rejects(pipeline.run(request(repo), out), (e: unknown) => {
    assert.ok(e instanceof BuildError);
    assert.equal(e.code, 'build_failed');
    assert.match(e.message, /^lockfile sub\/yarn\.lock is 2K \(2,048 bytes\), past the 1K \(1,024 bytes\) limit for one lockfile/);
    return true;
  });
  assert.ok(!lines.some((l) => l.startsWith('-----> Building')), lines.join('\n'));
  await assertWorkDirEmpty(f.workDir);
  assert.throws(
    () => new BuildPipeline({ workDir: f.workDir, blobs: f.blobs, summonVersion: 'x', lockfileLimits: { maxTotalBytes: -1 } }),
    /maxTotalBytes must be a whole number of bytes ≥ 1/,
  );
});

test('the artifact\'s architecture is recorded; a [run].arch it contradicts fails the build before anything is stored', async (t) => {
  const f = await fixture(t);
  // An arm64 Linux Image header ("ARM\x64" at 0x38) made by the build command.
  const make = 'printf "%056d" 0 | tr 0 "\\\\000" >Image && printf "ARM\\\\144" >>Image';
  const good = await makeRepo(f.root, { 'summon.toml': `[build]\ncommand = '${make}'\nartifact = "Image"\n[run]\ntarget = "qemu"\narch = "arm64"\n` });
  const { lines, out } = collect();
  const res = await f.pipeline.run(request(good), out);
  assert.equal(res.manifest.run.arch, 'aarch64', 'the alias is stored canonical');
  assert.equal(res.buildManifest.artifact.arch, 'aarch64');
  assert.match(res.buildManifest.artifact.archFrom ?? '', /arm64 Linux Image/);
  assert.ok(lines.some((l) => /Architecture: aarch64 \(arm64 Linux Image/.test(l)), lines.join('\n'));

  const bad = await makeRepo(f.root, { 'summon.toml': `[build]\ncommand = '${make}'\nartifact = "Image"\n[run]\ntarget = "qemu"\narch = "x86_64"\n` });
  const before = await readdir(join(f.root, 'blobs')).catch(() => []);
  await assert.rejects(f.pipeline.run(request(bad), () => {}), (e: unknown) => {
    assert.ok(e instanceof BuildError);
    assert.match(e.message, /\[run\]\.arch is x86_64 but the artifact Image is aarch64 \(arm64 Linux Image/);
    return true;
  });
  assert.deepEqual(await readdir(join(f.root, 'blobs')).catch(() => []), before, 'nothing new stored');
  await assertWorkDirEmpty(f.workDir);
});

test('an artifact that is a directory is refused', async (t) => {
  const f = await fixture(t);
  const repo = await makeRepo(f.root, { 'summon.toml': '[build]\ncommand = "mkdir -p out/app"\nartifact = "out/app"\n' });
  await assert.rejects(f.pipeline.run(request(repo), () => {}), /artifact out\/app is not a regular file \(a directory\)/);
});

test('an artifact symlink that escapes the checkout is refused', async (t) => {
  const f = await fixture(t);
  const secret = join(f.root, 'secret');
  await writeFile(secret, 'do not ship me');
  const committed = await makeRepo(f.root, { 'summon.toml': '[build]\nartifact = "app"\n', app: { symlink: secret } });
  await assert.rejects(f.pipeline.run(request(committed), () => {}), (e: unknown) => {
    assert.ok(e instanceof BuildError);
    assert.match(e.message, /artifact app resolves outside the checkout/);
    return true;
  });
  // Made by the build command, through a symlinked directory.
  const built = await makeRepo(f.root, {
    'summon.toml': `[build]\ncommand = "ln -s /etc out"\nartifact = "out/passwd"\n`,
  });
  await assert.rejects(f.pipeline.run(request(built), () => {}), /artifact out\/passwd resolves outside the checkout/);
  assert.deepEqual(await readdir(f.blobs.dir).catch(() => []), [], 'nothing stored');
  await assertWorkDirEmpty(f.workDir);
});

test('a symlink inside the checkout is followed', async (t) => {
  const f = await fixture(t);
  const repo = await makeRepo(f.root, { 'summon.toml': '[build]\nartifact = "link"\n', 'real/app': 'inside', link: { symlink: 'real/app' } });
  const res = await f.pipeline.run(request(repo), () => {});
  assert.equal(await readFile(f.blobs.path(res.artifactSha256), 'utf8'), 'inside');
});

test('the timeout kills the whole process group', async (t) => {
  const f = await fixture(t, { killGraceMs: 300 });
  const pidFile = join(f.root, 'bg.pid');
  const repo = await makeRepo(f.root, {
    'summon.toml': '[build]\ncommand = "sleep 300 & echo $! > \\"$PIDFILE\\"; echo started; sleep 300"\nartifact = "a"\ntimeout = "1s"\n',
  });
  const t0 = Date.now();
  await assert.rejects(f.pipeline.run(request(repo, { PIDFILE: pidFile }), () => {}), (e: unknown) => {
    assert.ok(e instanceof BuildError);
    assert.equal(e.code, 'build_failed');
    assert.match(e.message, /build command timed out after 1\.0s/);
    assert.match(e.message, /started/);
    return true;
  });
  assert.ok(Date.now() - t0 < scaled(10_000), 'the build ends soon after the timeout');
  const bg = Number((await readFile(pidFile, 'utf8')).trim());
  assert.ok(bg > 0);
  const alive = () => {
    try {
      process.kill(bg, 0);
      return true;
    } catch {
      return false;
    }
  };
  await waitFor(() => !alive(), { timeoutMs: 5000, intervalMs: 20, what: 'the background sleep to die' });
  await assertWorkDirEmpty(f.workDir);
});

test('an aborted build is cancelled and its processes killed', async (t) => {
  const f = await fixture(t, { killGraceMs: 300 });
  const repo = await makeRepo(f.root, { 'summon.toml': '[build]\ncommand = "echo running; sleep 300"\nartifact = "a"\n' });
  const ac = new AbortController();
  const { lines, out } = collect();
  const p = f.pipeline.run(request(repo), (l) => {
    out(l);
    if (l === '       running') ac.abort();
  }, ac.signal);
  await assert.rejects(p, /cancelled/);
  assert.ok(lines.includes('       running'));
  await assertWorkDirEmpty(f.workDir);
});

test('build commands get a clean environment plus the config vars', async (t) => {
  const f = await fixture(t);
  process.env.SUMMON_LEAK_CHECK = 'leaked';
  t.after(() => {
    delete process.env.SUMMON_LEAK_CHECK;
  });
  const repo = await makeRepo(f.root, { 'summon.toml': '[build]\ncommand = "env > env.txt; pwd > pwd.txt"\nartifact = "env.txt"\n' });
  const res = await f.pipeline.run(request(repo, { MY_CONFIG: 'from-config', SUMMON_APP: 'spoofed' }), () => {});
  const env = Object.fromEntries(
    (await readFile(f.blobs.path(res.artifactSha256), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  assert.equal(env.SUMMON_LEAK_CHECK, undefined, 'variables of the Summon process do not leak');
  assert.equal(env.MY_CONFIG, 'from-config');
  assert.equal(env.SUMMON_APP, 'demo', 'config cannot override what Summon sets');
  assert.equal(env.SOURCE_VERSION, repo.commit);
  assert.equal(env.PATH, CLEAN_PATH);
  assert.equal(env.LANG, 'C.UTF-8');
  assert.ok(env.HOME.startsWith(f.workDir + '/'), `HOME ${env.HOME} is inside the build dir`);
  assert.ok(env.TMPDIR.startsWith(f.workDir + '/'), `TMPDIR ${env.TMPDIR} is inside the build dir`);
  assert.equal(env.USER, undefined);
});

test('the hello-node example builds and passes its own tests', async (t) => {
  const f = await fixture(t);
  const dir = await mkdtemp(join(f.root, 'hello-'));
  await cp(join(repoRoot, 'examples/hello-node'), dir, { recursive: true });
  await git(dir, ['init', '--quiet', '--initial-branch=main']);
  await git(dir, ['add', '-A']);
  await git(dir, ['commit', '--quiet', '-m', 'hello']);
  const commit = await git(dir, ['rev-parse', 'HEAD']);
  const { lines, out } = collect();
  const res = await f.pipeline.run(request({ gitDir: join(dir, '.git'), commit }), out).catch((e: SummonError) => {
    throw new Error(`${e.message}\n${lines.join('\n')}`);
  });
  const artifact = await readFile(f.blobs.path(res.artifactSha256), 'utf8');
  assert.ok(artifact.startsWith('#!/usr/bin/env node\n'), 'the artifact is directly executable');
  assert.equal(res.manifest.run.target, 'process');
  assert.deepEqual(res.manifest.run.args, ['--port', '{port}']);
  assert.equal(res.manifest.health.path, '/healthy');
  assert.deepEqual(res.buildManifest.lockfiles.map((l) => l.path), ['package-lock.json']);
  assert.ok(lines.some((l) => l.startsWith('-----> Testing: node test.mjs')));
});

test('a build that writes past the disk limit into its directory is stopped with the reason', async (t) => {
  const f = await fixture(t, { killGraceMs: 300, maxBuildDiskBytes: 4 * 1024 * 1024, diskCheckMs: 50 });
  // 1 MB a step, forever: only the disk watch ends it (the timeout is minutes away).
  const repo = await makeRepo(f.root, {
    'summon.toml': '[build]\ncommand = "i=0; while true; do head -c 1048576 /dev/zero > blob$i; i=$((i+1)); sleep 0.05; done"\nartifact = "a"\ntimeout = "5m"\n',
  });
  await assert.rejects(f.pipeline.run(request(repo), () => {}), (e: unknown) => {
    assert.ok(e instanceof BuildError);
    assert.match(e.message, /build command wrote [\d.]+M into its build directory, past the 4M limit \(summon up --max-build-disk\); it was stopped/);
    return true;
  });
  await assertWorkDirEmpty(f.workDir);
});
