import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BuildError, InvalidInputError } from '../core/errors.js';
import { DEFAULT_LOCKFILE_LIMITS, findLockfiles, hashDir, lockfileLimits } from './lockfiles.js';

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'summon-lockfiles-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A file of `size` bytes that takes no disk: a hole, read back as zeros. */
async function sparse(path: string, size: number): Promise<void> {
  await writeFile(path, '');
  await truncate(path, size);
}

/** Bytes this process has asked read(2) for so far (Linux), page cache included. */
function bytesRead(): number | null {
  if (!existsSync('/proc/self/io')) return null;
  const m = /^rchar: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'));
  return m ? Number(m[1]) : null;
}

function sha(s: string | Buffer): string {
  return createHash('sha256').update(s).digest('hex');
}

test('digests are the same as when lockfiles were read whole', async (t) => {
  const root = await tempDir(t);
  await mkdir(join(root, 'sub'));
  await mkdir(join(root, 'dune.lock', 'deep'), { recursive: true });
  await mkdir(join(root, 'node_modules'));
  await writeFile(join(root, 'package-lock.json'), '{"lockfileVersion":3}\n');
  await writeFile(join(root, 'sub', 'Cargo.lock'), 'cargo');
  await writeFile(join(root, 'dune.lock', 'lock.dune'), '(lang package 0.1)\n');
  await writeFile(join(root, 'dune.lock', 'deep', 'a.pkg'), '(version 1.0)\n');
  await symlink('../lock.dune', join(root, 'dune.lock', 'deep', 'link'));
  await writeFile(join(root, 'node_modules', 'yarn.lock'), 'x');

  // Recorded from the readFile() implementation this replaced, on this same tree.
  assert.deepEqual(await findLockfiles(root), [
    { path: 'dune.lock', sha256: '0ca296d305dc9389cedde8ebbd49e6a2f73d81b76fb89bc2705a870a5cba89d8' },
    { path: 'package-lock.json', sha256: 'f25e7d293543b03d1a2cab20f9827739fd644af8400382bc4f6a5124e46aead0' },
    { path: 'sub/Cargo.lock', sha256: '3322532d8589f95c912a7c956aecd5b0d8847263b9021438c72a126041f612e8' },
  ]);
  assert.equal(await hashDir(join(root, 'dune.lock')), '0ca296d305dc9389cedde8ebbd49e6a2f73d81b76fb89bc2705a870a5cba89d8');
  assert.equal(sha('{"lockfileVersion":3}\n'), 'f25e7d293543b03d1a2cab20f9827739fd644af8400382bc4f6a5124e46aead0');
});

test('a sparse 1 GiB lockfile is refused by its size without being read', async (t) => {
  const root = await tempDir(t);
  await writeFile(join(root, 'package-lock.json'), '{}');
  await sparse(join(root, 'yarn.lock'), 1024 ** 3);
  const before = bytesRead();
  const t0 = Date.now();
  const err = await findLockfiles(root).then(() => null, (e: unknown) => e);
  const ms = Date.now() - t0;
  assert.ok(err instanceof BuildError, `expected a BuildError, got ${String(err)}`);
  assert.equal(err.code, 'build_failed');
  assert.match(err.message, /^lockfile yarn\.lock is 1G \(1,073,741,824 bytes\), past the 64M \(67,108,864 bytes\) limit for one lockfile; it was not read/);
  assert.deepEqual(err.details, { path: 'yarn.lock', size: 1024 ** 3, limit: DEFAULT_LOCKFILE_LIMITS.maxFileBytes, reason: 'lockfile too large' });
  const after = bytesRead();
  if (before !== null && after !== null) {
    // Reading it would be 1 GiB of read(2); the walk itself reads a few directory listings.
    assert.ok(after - before < 1024 * 1024, `read ${after - before} bytes while refusing it`);
  }
  assert.ok(ms < 5000, `took ${ms} ms`);
});

test('a huge file inside a dune.lock directory is refused, named by its path', async (t) => {
  const root = await tempDir(t);
  await mkdir(join(root, 'dune.lock'));
  await writeFile(join(root, 'dune.lock', 'lock.dune'), '(lang package 0.1)\n');
  await sparse(join(root, 'dune.lock', 'zeros.pkg'), 100 * 1024 * 1024);
  await assert.rejects(findLockfiles(root), (e: unknown) => {
    assert.ok(e instanceof BuildError);
    assert.match(e.message, /^lockfile dune\.lock\/zeros\.pkg is 100M/);
    return true;
  });
});

test('lockfiles past the total for one build are refused at the one that crosses it', async (t) => {
  const root = await tempDir(t);
  await writeFile(join(root, 'Cargo.lock'), 'a'.repeat(100));
  await writeFile(join(root, 'yarn.lock'), 'b'.repeat(100));
  const limits = { maxFileBytes: 100, maxTotalBytes: 150 };
  await assert.rejects(findLockfiles(root, limits), (e: unknown) => {
    assert.ok(e instanceof BuildError);
    assert.match(e.message, /^lockfile yarn\.lock \(100 bytes\) takes the lockfiles of this build past 150 bytes in all \(100 bytes before it\)/);
    assert.equal((e.details as { limit: number }).limit, 150);
    return true;
  });
  // Exactly at the limits is allowed.
  assert.equal((await findLockfiles(root, { maxFileBytes: 100, maxTotalBytes: 200 })).length, 2);
});

test('a lockfile under the limit is hashed as a stream while the event loop keeps turning', async (t) => {
  const root = await tempDir(t);
  const size = 48 * 1024 * 1024;
  await sparse(join(root, 'go.sum'), size);
  let turns = 0;
  const tick = setInterval(() => turns++, 0);
  try {
    const [l] = await findLockfiles(root);
    const h = createHash('sha256');
    const zeros = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < size / zeros.length; i++) h.update(zeros);
    assert.deepEqual(l, { path: 'go.sum', sha256: h.digest('hex') });
  } finally {
    clearInterval(tick);
  }
  // Timers run between the 64K chunks; one update() over the whole file would hold the loop.
  assert.ok(turns >= 10, `the event loop turned ${turns} times while 48M were hashed`);
});

test('limits must be whole positive byte counts', () => {
  assert.deepEqual(lockfileLimits(), { ...DEFAULT_LOCKFILE_LIMITS });
  assert.deepEqual(lockfileLimits({ maxFileBytes: 10, maxTotalBytes: undefined }), { maxFileBytes: 10, maxTotalBytes: DEFAULT_LOCKFILE_LIMITS.maxTotalBytes });
  assert.throws(() => lockfileLimits({ maxFileBytes: 0 }), InvalidInputError);
  assert.throws(() => lockfileLimits({ maxTotalBytes: 1.5 }), /maxTotalBytes must be a whole number of bytes/);
});
