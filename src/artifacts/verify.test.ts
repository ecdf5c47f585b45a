import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { mkdtemp, open, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArtifactVerifier, describeVerdict, sha256File } from './verify.js';
import { waitFor } from '../testing/wait.js';

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'summon-verify-'));
  t.after(() => rm(d, { recursive: true, force: true }));
  return d;
}

const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

/** A verifier that counts its hashes; racyMs 0 unless a test is about the racy window. */
function counting(opts: { racyMs?: number; now?: () => number } = {}) {
  const calls: string[] = [];
  const v = new ArtifactVerifier({
    racyMs: opts.racyMs ?? 0,
    ...(opts.now ? { now: opts.now } : {}),
    hash: (path, fd) => {
      calls.push(path);
      return sha256File(path, fd);
    },
  });
  return { v, calls };
}

/** Waits (on the clock, with a deadline) until a new change to a file in `dir` gets a ctime
 *  later than `file`'s: the file system's timestamp tick has moved on. */
async function nextCtimeTick(dir: string, file: string): Promise<void> {
  const was = statSync(file, { bigint: true }).ctimeNs;
  const probe = join(dir, 'tick-probe');
  await waitFor(async () => {
    await writeFile(probe, String(Date.now()));
    return statSync(probe, { bigint: true }).ctimeNs > was;
  }, { timeoutMs: 5000, intervalMs: 1, what: 'the file system clock to tick' });
}

test('an untouched file is hashed once, then answered from the cache', async (t) => {
  const d = await tempDir(t);
  const f = join(d, 'blob');
  await writeFile(f, 'the real app\n');
  const { v, calls } = counting();
  for (let i = 0; i < 5; i++) assert.deepEqual(await v.verify(f, sha('the real app\n')), { ok: true, sha256: sha('the real app\n') });
  assert.equal(calls.length, 1, 'hashed once for five checks');
  assert.deepEqual(v.cached(f, sha('the real app\n')), { ok: true, sha256: sha('the real app\n') });
  // Concurrent checks of a file not yet cached share one hash.
  const g = join(d, 'other');
  await writeFile(g, 'x');
  await Promise.all([v.verify(g, sha('x')), v.verify(g, sha('x')), v.verify(g, sha('x'))]);
  assert.equal(calls.length, 2);
});

test('a same-size rewrite in place with mtime put back is caught (ctime)', async (t) => {
  const d = await tempDir(t);
  const f = join(d, 'blob');
  const good = '#!/bin/sh\necho good\n';
  const evil = '#!/bin/sh\necho evil\n';
  assert.equal(good.length, evil.length);
  await writeFile(f, good);
  const { v, calls } = counting();
  assert.equal((await v.verify(f, sha(good))).ok, true);
  const before = statSync(f, { bigint: true });
  await nextCtimeTick(d, f);
  // The attacker: same inode, same size, mtime and atime restored.
  const fh = await open(f, 'r+');
  await fh.write(evil, 0);
  await fh.close();
  // To the nanosecond, as utimensat(2) can (touch -d @S.N); Node's utimes rounds through a double.
  const ns = (t: bigint) => `@${t / 1_000_000_000n}.${String(t % 1_000_000_000n).padStart(9, '0')}`;
  execFileSync('touch', ['-m', '-d', ns(before.mtimeNs), f]);
  execFileSync('touch', ['-a', '-d', ns(before.atimeNs), f]);
  const after = statSync(f, { bigint: true });
  assert.equal(after.ino, before.ino);
  assert.equal(after.size, before.size);
  assert.equal(after.mtimeNs, before.mtimeNs, 'mtime restored exactly');
  const r = await v.verify(f, sha(good));
  assert.equal(calls.length, 2, 'the rewrite made the check hash again');
  assert.deepEqual(r, { ok: false, kind: 'altered', expected: sha(good), actual: sha(evil), path: f });
  assert.equal(describeVerdict(r as Exclude<typeof r, { ok: true }>, 'artifact of v3'),
    `artifact of v3 altered: sha256 ${sha(evil).slice(0, 12)}…≠${sha(good).slice(0, 12)}…`);
  // The bad verdict is cached too: a second start is refused without hashing.
  assert.equal((await v.verify(f, sha(good))).ok, false);
  assert.equal(calls.length, 2);
});

test('a file replaced by rename (new inode) is caught; a missing one is reported, not thrown', async (t) => {
  const d = await tempDir(t);
  const f = join(d, 'blob');
  await writeFile(f, 'one');
  const { v, calls } = counting();
  assert.equal((await v.verify(f, sha('one'))).ok, true);
  await writeFile(join(d, 'new'), 'two');
  await rename(join(d, 'new'), f);
  const r = await v.verify(f, sha('one'));
  assert.equal(r.ok, false);
  assert.equal(r.ok === false && r.kind, 'altered');
  assert.equal(calls.length, 2);
  await rm(f);
  const m = await v.verify(f, sha('one'));
  assert.equal(m.ok === false && m.kind, 'missing');
  assert.equal(calls.length, 2, 'a missing file is not hashed');
  assert.match(describeVerdict(m as Exclude<typeof m, { ok: true }>, 'artifact of v1'), /^artifact of v1 missing: sha256 [0-9a-f]{12}… is not in the blob store \(no file /);
  assert.equal(v.cached(f, sha('one')), null);
});

test('a file changed within the racy window is hashed every time until it is old enough', async (t) => {
  const d = await tempDir(t);
  const f = join(d, 'blob');
  await writeFile(f, 'fresh');
  let offset = 0;
  const { v, calls } = counting({ racyMs: 2000, now: () => Date.now() + offset });
  await v.verify(f, sha('fresh'));
  await v.verify(f, sha('fresh'));
  assert.equal(calls.length, 2, 'not cached: a write in the same tick would keep the key');
  offset = 10_000;
  await v.verify(f, sha('fresh'));
  await v.verify(f, sha('fresh'));
  assert.equal(calls.length, 3, 'cached once it is older than the window');
  // A different expected digest is a different question.
  assert.equal((await v.verify(f, sha('other'))).ok, false);
  assert.equal(calls.length, 4);
  assert.equal((await stat(f)).size, 5);
});
