import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { BlobStore } from '../artifacts/blob-store.js';
import { GitHttpBackend } from './git-http.js';
import { BuildPipeline } from '../builder/pipeline.js';
import { parsePushRequest, servePushStream, type PushRequest, type PushResult } from './push-stream.js';
import { RepoManager } from './repos.js';

const execFileP = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const TOKEN = 'hook-secret';

let root: string;
let repos: RepoManager;
let gitServer: Server;
let hookServer: Server;
let gitPort: number;
let hookPort: number;
let hookUrl: () => string;
let hookCalls: PushRequest[] = [];
const contentEncodings: string[] = [];
/** What the stub API does with a push; each test sets it. */
let onPush: (req: PushRequest, out: (l: string) => void) => Promise<PushResult>;

const clientEnv = () => ({
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  HOME: join(root, 'home'),
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_TERMINAL_PROMPT: '0',
  GIT_AUTHOR_NAME: 'Test',
  GIT_AUTHOR_EMAIL: 'test@example.com',
  GIT_COMMITTER_NAME: 'Test',
  GIT_COMMITTER_EMAIL: 'test@example.com',
});

async function git(cwd: string, args: string[]): Promise<string> {
  const { stdout } = await execFileP('git', args, { cwd, env: clientEnv() });
  return stdout.trim();
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'summon-git-http-'));
  await mkdir(join(root, 'home'));
  repos = new RepoManager({ dir: join(root, 'repos'), hookScript: join(here, 'hook.js') });

  hookServer = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'POST' || req.url !== '/hook' || req.headers.authorization !== `Bearer ${TOKEN}`) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'unauthorized', message: 'bad hook token' } }));
      return;
    }
    const push = await parsePushRequest(await readJson(req), { gitDirFor: (app) => repos.path(app) });
    hookCalls.push(push);
    await servePushStream(res, (out) => onPush(push, out));
  });
  hookPort = await listen(hookServer);
  hookUrl = () => `http://127.0.0.1:${hookPort}/hook`;

  const backend = new GitHttpBackend({
    repos,
    hookEnv: (app) => ({ SUMMON_HOOK_URL: hookUrl(), SUMMON_HOOK_TOKEN: TOKEN, SUMMON_APP: app }),
  });
  gitServer = createServer((req, res) => {
    if (req.headers['content-encoding']) contentEncodings.push(String(req.headers['content-encoding']));
    const m = /^\/([^/]+)\.git(\/[^?]*)/.exec(req.url ?? '');
    if (!m) {
      res.writeHead(404).end();
      return;
    }
    backend.handle(m[1], m[2], req, res).catch((e) => {
      res.destroy(e as Error);
    });
  });
  gitPort = await listen(gitServer);
});

after(async () => {
  gitServer.closeAllConnections();
  hookServer.closeAllConnections();
  await new Promise((r) => gitServer.close(r));
  await new Promise((r) => hookServer.close(r));
  await rm(root, { recursive: true, force: true });
});

const remote = (app: string) => `http://127.0.0.1:${gitPort}/${app}.git`;

/** A work tree with one commit, remote "summon" pointing at app. */
async function workTree(app: string, files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(root, 'work-'));
  await git(dir, ['init', '--quiet', '--initial-branch=main']);
  await commitFiles(dir, files);
  await git(dir, ['remote', 'add', 'summon', remote(app)]);
  return dir;
}

async function commitFiles(dir: string, files: Record<string, string>): Promise<string> {
  for (const [p, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, p)), { recursive: true });
    await writeFile(join(dir, p), content);
  }
  await git(dir, ['add', '-A']);
  await git(dir, ['commit', '--quiet', '-m', 'change']);
  return git(dir, ['rev-parse', 'HEAD']);
}

interface Push {
  code: Promise<number | null>;
  stderr: () => string;
  /** Resolves once git's stderr contains `text`; rejects after `ms`. */
  seen: (text: string, ms?: number) => Promise<void>;
}

function push(cwd: string, args: string[]): Push {
  const child = spawn('git', ['push', 'summon', ...args], { cwd, env: clientEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  const waiters: { text: string; resolve: () => void }[] = [];
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (c: string) => {
    stderr += c;
    for (const w of waiters.splice(0)) {
      if (stderr.includes(w.text)) w.resolve();
      else waiters.push(w);
    }
  });
  child.stdout.resume();
  const code = new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  return {
    code,
    stderr: () => stderr,
    seen: (text, ms = 15_000) =>
      new Promise<void>((resolve, reject) => {
        if (stderr.includes(text)) return resolve();
        const timer = setTimeout(() => reject(new Error(`git never printed ${JSON.stringify(text)}; stderr:\n${stderr}`)), ms);
        waiters.push({ text, resolve: () => (clearTimeout(timer), resolve()) });
      }),
  };
}

async function refOf(app: string, ref: string): Promise<string | null> {
  try {
    return await git(repos.path(app), ['rev-parse', '--verify', '--quiet', ref]);
  } catch {
    return null;
  }
}

function indexOfLine(stderr: string, text: string): number {
  const i = stderr.indexOf(`remote: ${text}`);
  assert.ok(i >= 0, `"remote: ${text}" not in git's output:\n${stderr}`);
  return i;
}

test('a push streams the hook output to git as it is produced, in order, and updates main', async () => {
  await repos.create('stream');
  const dir = await workTree('stream', { 'a.txt': 'one' });
  const head = await git(dir, ['rev-parse', 'HEAD']);
  let p!: Push;
  hookCalls = [];
  onPush = async (_req, out) => {
    out('-----> step one');
    // The next line is only produced once git has shown the first: proof of streaming.
    await p.seen('remote: -----> step one');
    out('-----> step two');
    out('       detail three');
    return { ok: true, message: 'Released v1' };
  };
  p = push(dir, ['main']);
  assert.equal(await p.code, 0, p.stderr());
  const err = p.stderr();
  const order = ['-----> step one', '-----> step two', '       detail three', 'Released v1'].map((l) => indexOfLine(err, l));
  assert.deepEqual([...order].sort((a, b) => a - b), order, `lines out of order:\n${err}`);
  assert.equal(await refOf('stream', 'refs/heads/main'), head);

  assert.equal(hookCalls.length, 1);
  const call = hookCalls[0];
  assert.equal(call.app, 'stream');
  assert.equal(call.ref, 'refs/heads/main');
  assert.equal(call.newRev, head);
  assert.equal(call.oldRev, '0'.repeat(40));
  assert.equal(call.gitDir, repos.path('stream'));
  assert.ok(call.gitEnv.GIT_QUARANTINE_PATH?.startsWith(repos.path('stream') + '/objects/'), JSON.stringify(call.gitEnv));
  assert.ok(call.gitEnv.GIT_OBJECT_DIRECTORY);
});

test('a failed build refuses the push: git exits non-zero, the message shows, main is not moved', async () => {
  await repos.create('failing');
  const dir = await workTree('failing', { 'a.txt': 'one' });
  onPush = async () => ({ ok: true });
  const first = push(dir, ['main']);
  assert.equal(await first.code, 0, first.stderr());
  const good = await git(dir, ['rev-parse', 'HEAD']);

  const bad = await commitFiles(dir, { 'a.txt': 'two' });
  onPush = async (_req, out) => {
    out('       compiling');
    return { ok: false, message: 'build command failed with exit code 2: make' };
  };
  const p = push(dir, ['main']);
  assert.notEqual(await p.code, 0);
  indexOfLine(p.stderr(), '       compiling');
  indexOfLine(p.stderr(), 'build command failed with exit code 2: make');
  assert.match(p.stderr(), /pre-receive hook declined/);
  assert.equal(await refOf('failing', 'refs/heads/main'), good);
  assert.notEqual(good, bad);
  // The refused objects are not in the repository either (they stayed in quarantine).
  await assert.rejects(git(repos.path('failing'), ['cat-file', '-e', `${bad}^{commit}`]));
});

test('an exception in the build run becomes a refused push with its message', async () => {
  await repos.create('throws');
  const dir = await workTree('throws', { 'a.txt': 'one' });
  onPush = async () => {
    throw new Error('disk on fire');
  };
  const p = push(dir, ['main']);
  assert.notEqual(await p.code, 0);
  indexOfLine(p.stderr(), 'disk on fire');
  assert.equal(await refOf('throws', 'refs/heads/main'), null);
});

test('pushing a branch other than main or master is refused before any build', async () => {
  await repos.create('branches');
  const dir = await workTree('branches', { 'a.txt': 'one' });
  hookCalls = [];
  onPush = async () => ({ ok: true });
  const p = push(dir, ['main:feature']);
  assert.notEqual(await p.code, 0);
  indexOfLine(p.stderr(), 'Summon deploys only the main (or master) branch; refusing to update refs/heads/feature.');
  assert.equal(hookCalls.length, 0, 'the API is not called');
  assert.equal(await refOf('branches', 'refs/heads/feature'), null);

  const master = push(dir, ['main:master']);
  assert.equal(await master.code, 0, master.stderr());
});

test('deleting main is refused', async () => {
  await repos.create('deletes');
  const dir = await workTree('deletes', { 'a.txt': 'one' });
  onPush = async () => ({ ok: true });
  assert.equal(await push(dir, ['main']).code, 0);
  const p = push(dir, [':main']);
  assert.notEqual(await p.code, 0);
  assert.match(p.stderr(), /deleting refs\/heads\/main is not allowed|deletion prohibited/);
  assert.ok(await refOf('deletes', 'refs/heads/main'));
});

test('an unreachable API refuses the push saying so', async () => {
  await repos.create('offline');
  const dir = await workTree('offline', { 'a.txt': 'one' });
  const closed = createServer();
  const port = await listen(closed);
  await new Promise((r) => closed.close(r));
  const saved = hookUrl;
  hookUrl = () => `http://127.0.0.1:${port}/hook`;
  try {
    const p = push(dir, ['main']);
    assert.notEqual(await p.code, 0);
    assert.match(p.stderr(), /remote: Summon: could not reach the Summon API at http:\/\/127\.0\.0\.1:\d+ \(.*ECONNREFUSED.*\); the push was refused\./);
    assert.equal(await refOf('offline', 'refs/heads/main'), null);
  } finally {
    hookUrl = saved;
  }
});

test('the real pipeline builds from the quarantined objects during the push', async () => {
  await repos.create('real');
  const dir = await workTree('real', {
    'summon.toml': '[build]\ncommand = "mkdir -p out && echo built-$SOURCE_VERSION > out/app"\nartifact = "out/app"\ntest = "grep -q built out/app"\n',
  });
  const head = await git(dir, ['rev-parse', 'HEAD']);
  const blobs = new BlobStore({ dir: join(root, 'blobs') });
  const pipeline = new BuildPipeline({ workDir: join(root, 'builds'), blobs, summonVersion: 'test' });
  let artifact = '';
  onPush = async (req, out) => {
    const res = await pipeline.run({ ...req, configEnv: {} }, out);
    artifact = res.artifactSha256;
    return { ok: true, message: `Built ${res.buildManifest.commit.slice(0, 7)}` };
  };
  const p = push(dir, ['main']);
  assert.equal(await p.code, 0, p.stderr());
  indexOfLine(p.stderr(), `-----> Checking out ${head.slice(0, 7)}`);
  indexOfLine(p.stderr(), '-----> Storing artifact');
  assert.equal(await readFile(blobs.path(artifact), 'utf8'), `built-${head}\n`);
});

test('clone and fetch work over upload-pack', async () => {
  await repos.create('fetchme');
  const dir = await workTree('fetchme', { 'hello.txt': 'hello over http\n' });
  onPush = async () => ({ ok: true });
  assert.equal(await push(dir, ['main']).code, 0);

  const clone = join(root, 'clone');
  await git(root, ['clone', '--quiet', remote('fetchme'), clone]);
  assert.equal(await readFile(join(clone, 'hello.txt'), 'utf8'), 'hello over http\n');

  const next = await commitFiles(dir, { 'hello.txt': 'second\n' });
  assert.equal(await push(dir, ['main']).code, 0);
  await git(clone, ['fetch', '--quiet', 'origin']);
  assert.equal(await git(clone, ['rev-parse', 'origin/main']), next);
  // Protocol v0 too (older clients).
  const ls = await git(root, ['-c', 'protocol.version=0', 'ls-remote', remote('fetchme'), 'refs/heads/main']);
  assert.equal(ls.split(/\s+/)[0], next);
});

test('only the smart endpoints of existing apps are served', async () => {
  await repos.create('paths');
  const get = (path: string, method = 'GET') =>
    new Promise<number>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: gitPort, path, method }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
  assert.equal(await get('/paths.git/info/refs?service=git-upload-pack'), 200);
  assert.equal(await get('/nosuchapp.git/info/refs?service=git-upload-pack'), 404);
  assert.equal(await get('/paths.git/HEAD'), 404);
  assert.equal(await get('/paths.git/objects/info/packs'), 404);
  assert.equal(await get('/paths.git/config'), 404);
  assert.equal(await get('/paths.git/info/refs'), 403, 'dumb protocol is not served');
  assert.equal(await get('/paths.git/git-receive-pack', 'GET'), 405);
});

test('gzip-compressed fetch requests are understood', async () => {
  await repos.create('gzipped');
  const dir = await workTree('gzipped', { 'f.txt': 'base\n' });
  onPush = async () => ({ ok: true });
  assert.equal(await push(dir, ['main']).code, 0);
  const clone = join(root, 'clone-gz');
  await git(root, ['clone', '--quiet', remote('gzipped'), clone]);
  // Many refs to fetch make the client's request long, and git gzips bodies over 1 KB.
  // (Tags are made in the repository directly: pushes accept only main.)
  const next = await commitFiles(dir, { 'f.txt': 'new\n' });
  assert.equal(await push(dir, ['main']).code, 0);
  for (let i = 0; i < 40; i++) await git(repos.path('gzipped'), ['tag', '-a', '-m', `t${i}`, `v${i}`, 'main']);
  contentEncodings.length = 0;
  await git(clone, ['-c', 'protocol.version=0', 'fetch', '--quiet', '--tags', 'origin']);
  assert.ok(contentEncodings.includes('gzip'), `the client sent gzip (saw ${JSON.stringify(contentEncodings)})`);
  assert.equal(await git(clone, ['rev-parse', 'origin/main']), next);
  assert.equal(await git(clone, ['rev-parse', 'v39^{commit}']), next);
});
