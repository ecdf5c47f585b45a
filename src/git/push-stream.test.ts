import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, get, type Server } from 'node:http';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidInputError } from '../core/errors.js';
import { parsePushRequest, PushStreamParser, servePushStream, type PushStreamFrame } from './push-stream.js';

const REV = 'c'.repeat(40);
const valid = (over: Record<string, unknown> = {}) => ({
  app: 'demo',
  oldRev: '0'.repeat(40),
  newRev: REV,
  ref: 'refs/heads/main',
  gitDir: '/srv/repos/demo.git',
  gitEnv: { GIT_QUARANTINE_PATH: '/srv/repos/demo.git/objects/tmp_objdir-incoming-x' },
  ...over,
});

test('parsePushRequest accepts a well-formed body and rejects bad fields', async () => {
  assert.equal((await parsePushRequest(valid())).newRev, REV);
  await assert.rejects(parsePushRequest(null), InvalidInputError);
  await assert.rejects(parsePushRequest(valid({ newRev: 'main' })), /newRev must be a full hex object id/);
  await assert.rejects(parsePushRequest(valid({ app: '' })), /app must be a non-empty string/);
  await assert.rejects(parsePushRequest(valid({ gitEnv: { LD_PRELOAD: '/x.so' } })), /gitEnv\.LD_PRELOAD is not a git quarantine variable/);
});

test('parsePushRequest with gitDirFor pins the repository and the quarantine paths', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'summon-push-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const repo = join(root, 'demo.git');
  await mkdir(join(repo, 'objects', 'incoming'), { recursive: true });
  const gitDirFor = (app: string) => join(root, `${app}.git`);
  const ok = valid({ gitDir: repo, gitEnv: { GIT_QUARANTINE_PATH: join(repo, 'objects', 'incoming'), GIT_ALTERNATE_OBJECT_DIRECTORIES: join(repo, 'objects') } });
  assert.equal((await parsePushRequest(ok, { gitDirFor })).gitDir, repo);
  await assert.rejects(parsePushRequest(valid({ gitDir: join(root, 'other.git') }), { gitDirFor }), /gitDir is not the repository of app demo/);
  await assert.rejects(
    parsePushRequest(valid({ gitDir: repo, gitEnv: { GIT_OBJECT_DIRECTORY: '/etc' } }), { gitDirFor }),
    /GIT_OBJECT_DIRECTORY points outside the repository/,
  );
});

test('the parser splits frames across chunk boundaries and keeps foreign text visible', () => {
  const p = new PushStreamParser();
  const frames: PushStreamFrame[] = [];
  frames.push(...p.push('{"line":"one"}\n{"li'));
  frames.push(...p.push('ne":"two {\\"done\\":true}"}\nnot json\n'));
  frames.push(...p.push('{"done":true,"ok":true,"message":"Released v2"}\n'));
  assert.deepEqual(frames, [{ line: 'one' }, { line: 'two {"done":true}' }, { line: 'not json' }, { done: true, ok: true, message: 'Released v2' }]);
});

async function serveOnce(handler: Parameters<typeof createServer>[1]): Promise<{ server: Server; body: () => Promise<string> }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const body = () =>
    new Promise<string>((resolve, reject) => {
      get({ host: '127.0.0.1', port, path: '/' }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve(text));
      }).on('error', reject);
    });
  return { server, body };
}

test('servePushStream writes one frame per line then exactly one trailer', async (t) => {
  const { server, body } = await serveOnce((_req, res) => {
    void servePushStream(res, async (out) => {
      out('first');
      out('second\nthird');
      return { ok: false, message: 'build failed' };
    });
  });
  t.after(() => server.close());
  const frames = new PushStreamParser().push(await body());
  assert.deepEqual(frames, [{ line: 'first' }, { line: 'second' }, { line: 'third' }, { done: true, ok: false, message: 'build failed' }]);
});

test('servePushStream turns a thrown error into a failed trailer', async (t) => {
  const { server, body } = await serveOnce((_req, res) => {
    void servePushStream(res, async () => {
      throw new InvalidInputError('bad push');
    });
  });
  t.after(() => server.close());
  assert.deepEqual(new PushStreamParser().push(await body()), [{ done: true, ok: false, message: 'bad push' }]);
});

test('servePushStream aborts the run when the hook goes away', async (t) => {
  let aborted!: Promise<void>;
  const server = createServer((_req, res) => {
    void servePushStream(res, async (out, signal) => {
      aborted = new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      out('started');
      await aborted;
      return { ok: false, message: 'cancelled' };
    });
  });
  t.after(() => server.close());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path: '/' }, (res) => {
      res.once('data', () => {
        req.destroy();
        resolve();
      });
    });
    req.on('error', () => {});
    setTimeout(() => reject(new Error('no first line')), 5000).unref();
  });
  const deadline = new Promise((_, reject) => setTimeout(() => reject(new Error('run was never aborted')), 5000).unref());
  await Promise.race([aborted, deadline]);
});
