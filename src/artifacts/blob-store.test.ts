import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { BlobStore } from './blob-store.js';

const run = promisify(execFile);

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'summon-blob-'));
  t.after(() => rm(d, { recursive: true, force: true }));
  return d;
}

test('put stores content under its sha256, read-only and executable', async (t) => {
  const d = await tempDir(t);
  const store = new BlobStore({ dir: join(d, 'blobs') });
  const src = join(d, 'a.bin');
  const content = Buffer.from('hello blob\n');
  await writeFile(src, content);
  const want = createHash('sha256').update(content).digest('hex');

  assert.equal(await store.has(want), false);
  const got = await store.put(src);
  assert.deepEqual(got, { sha256: want, size: content.length });
  assert.equal(store.path(want), join(d, 'blobs', want.slice(0, 2), want));
  assert.equal(await store.has(want), true);
  assert.deepEqual(await readFile(store.path(want)), content);
  const st = await stat(store.path(want));
  assert.equal(st.mode & 0o777, 0o555);
  // No temp files are left behind.
  assert.deepEqual(await readdir(join(d, 'blobs', 'tmp')), []);
});

test('putting the same content twice is a no-op', async (t) => {
  const d = await tempDir(t);
  const store = new BlobStore({ dir: join(d, 'blobs') });
  await writeFile(join(d, 'a'), 'same');
  await writeFile(join(d, 'b'), 'same');
  const one = await store.put(join(d, 'a'));
  const before = await stat(store.path(one.sha256));
  const two = await store.put(join(d, 'b'));
  assert.deepEqual(one, two);
  const after = await stat(store.path(one.sha256));
  assert.equal(after.ino, before.ino, 'the existing blob is not replaced');
  assert.deepEqual(await readdir(join(d, 'blobs', 'tmp')), []);
});

test('a stored executable runs directly from the store', async (t) => {
  const d = await tempDir(t);
  const store = new BlobStore({ dir: join(d, 'blobs') });
  await writeFile(join(d, 's.sh'), '#!/bin/sh\necho ran-from-store\n');
  const { sha256 } = await store.put(join(d, 's.sh'));
  const { stdout } = await run(store.path(sha256), []);
  assert.equal(stdout, 'ran-from-store\n');
});

test('a missing source file rejects and leaves nothing behind', async (t) => {
  const d = await tempDir(t);
  const store = new BlobStore({ dir: join(d, 'blobs') });
  await assert.rejects(store.put(join(d, 'nope')), /ENOENT/);
  assert.deepEqual(await readdir(join(d, 'blobs', 'tmp')), []);
});

test('bad digests and relative dirs are rejected', () => {
  assert.throws(() => new BlobStore({ dir: 'relative' }), /absolute/);
  const store = new BlobStore({ dir: '/tmp/x' });
  assert.throws(() => store.path('../../etc/passwd'), /sha256/);
  assert.throws(() => store.path('ABC'), /sha256/);
});

test('the store\'s directories are not writable by others, whatever the umask', async (t) => {
  const d = await tempDir(t);
  const store = new BlobStore({ dir: join(d, 'blobs') });
  await writeFile(join(d, 'a'), 'perm');
  const old = process.umask(0);
  let sha256: string;
  try {
    ({ sha256 } = await store.put(join(d, 'a')));
  } finally {
    process.umask(old);
  }
  for (const dir of [join(d, 'blobs'), join(d, 'blobs', sha256.slice(0, 2)), join(d, 'blobs', 'tmp')]) {
    assert.equal((await stat(dir)).mode & 0o777, 0o755, dir);
  }
  assert.equal((await stat(store.path(sha256))).mode & 0o777, 0o555);
});

test('putting content whose stored copy was altered replaces that copy', async (t) => {
  const d = await tempDir(t);
  const store = new BlobStore({ dir: join(d, 'blobs') });
  await writeFile(join(d, 'a'), 'genuine');
  const { sha256 } = await store.put(join(d, 'a'));
  await chmod(store.path(sha256), 0o755);
  await writeFile(store.path(sha256), 'planted');
  await store.put(join(d, 'a'));
  assert.equal(await readFile(store.path(sha256), 'utf8'), 'genuine');
  assert.equal((await stat(store.path(sha256))).mode & 0o777, 0o555);
});

test('put with an expected digest refuses other content and stores nothing', async (t) => {
  const d = await tempDir(t);
  const store = new BlobStore({ dir: join(d, 'blobs') });
  await writeFile(join(d, 'a'), 'served');
  const want = createHash('sha256').update('asked for').digest('hex');
  await assert.rejects(store.put(join(d, 'a'), { expect: want }), /blob has sha256 [0-9a-f]{12}…, not the [0-9a-f]{12}… it was stored as: refused/);
  assert.equal(await store.has(createHash('sha256').update('served').digest('hex')), false);
  assert.deepEqual(await readdir(join(d, 'blobs', 'tmp')), []);
});
