import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { RepoManager, shQuote } from './repos.js';

const run = promisify(execFile);

test('create makes a bare repository with receive-pack enabled and the hook installed', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'summon-repos-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const repos = new RepoManager({ dir: join(root, 'repos'), hookScript: '/opt/summon dist/hook.js' });
  assert.equal(await repos.exists('blog'), false);
  const dir = await repos.create('blog');
  assert.equal(dir, join(root, 'repos', 'blog.git'));
  assert.equal(repos.path('blog'), dir);
  assert.equal(await repos.exists('blog'), true);
  const cfg = async (k: string) => (await run('git', ['--git-dir', dir, 'config', '--get', k])).stdout.trim();
  assert.equal(await cfg('core.bare'), 'true');
  assert.equal(await cfg('http.receivepack'), 'true');
  const hook = join(dir, 'hooks', 'pre-receive');
  assert.equal((await stat(hook)).mode & 0o111, 0o111, 'the hook is executable');
  const text = await readFile(hook, 'utf8');
  assert.ok(text.startsWith('#!/bin/sh\n'));
  assert.ok(text.includes(`exec '${process.execPath}' '/opt/summon dist/hook.js'`), text);
  // Idempotent: a second create repairs rather than fails.
  assert.equal(await repos.create('blog'), dir);
  await repos.remove('blog');
  assert.equal(await repos.exists('blog'), false);
});

test('bad names and relative paths are refused', async () => {
  assert.throws(() => new RepoManager({ dir: 'repos', hookScript: '/x/hook.js' }), /dir must be an absolute path/);
  assert.throws(() => new RepoManager({ dir: '/r', hookScript: 'hook.js' }), /hookScript must be an absolute path/);
  const repos = new RepoManager({ dir: '/r', hookScript: '/x/hook.js' });
  assert.throws(() => repos.path('../etc'), /app name/);
  assert.throws(() => repos.path('Blog'), /app name/);
  await assert.rejects(repos.create('-rf'), /app name/);
});

test('shQuote survives quotes', () => {
  assert.equal(shQuote("it's"), `'it'\\''s'`);
});

test('repairHooks points the hooks of an earlier installation (another dist path) at this one, and leaves current ones alone', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'summon-repos-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const before = new RepoManager({ dir: join(root, 'repos'), hookScript: '/opt/summon/dist/src/build/hook.js' });
  await before.create('blog');
  await before.create('shop');
  const after = new RepoManager({ dir: join(root, 'repos'), hookScript: '/opt/summon/dist/src/git/hook.js' });
  await after.create('shop');
  assert.deepEqual(await after.repairHooks(['blog', 'shop', 'never-pushed']), ['blog']);
  for (const app of ['blog', 'shop']) {
    const text = await readFile(join(after.path(app), 'hooks', 'pre-receive'), 'utf8');
    assert.ok(text.includes(`'/opt/summon/dist/src/git/hook.js'`), `${app}: ${text}`);
  }
  assert.equal(await after.exists('never-pushed'), false, 'no repository is made for an app without one');
  assert.deepEqual(await after.repairHooks(['blog', 'shop']), [], 'a second pass rewrites nothing');
});
