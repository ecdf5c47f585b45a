// Pushes past the stated limits are refused before they cost disk: a pack larger than
// --max-push-size (measured on main: a 300 MB push was accepted), and a small push whose
// commit would check out to more than --max-checkout-size (on main: a 1 MB "zip bomb" became
// 2 GB of temporary disk).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cli, cliJson, commitAll, exampleRepo, git, push, startSummonFor, viaRouter } from './harness.js';

test('push and checkout limits', async (t) => {
  const s = await startSummonFor(t, 'limits', ['--max-push-size', '2M', '--max-checkout-size', '8M', '--no-vm']);
  const dataDir = /Data:\s+(\S+)/.exec(s.output())![1];
  assert.equal((await cli(s, 'apps:create', 'limited')).code, 0);
  const repo = await exampleRepo('hello-node');
  const ok = await push(s, repo, 'limited');
  assert.equal(ok.code, 0, ok.stderr);

  await t.test('a commit that checks out past --max-checkout-size is refused before checkout', async () => {
    // 32 MiB of zeros: a few tens of kilobytes pushed.
    await writeFile(join(repo, 'zeros.bin'), Buffer.alloc(32 * 1024 * 1024));
    await commitAll(repo, 'a zip bomb');
    const r = await push(s, repo, 'limited');
    assert.notEqual(r.code, 0, 'the push is rejected');
    assert.match(r.stderr, /the commit's files add up to more than 8M \(the checkout limit/);
    assert.deepEqual(await readdir(join(dataDir, 'builds')), [], 'nothing was checked out, nothing left behind');
    const [latest] = (await cliJson(s, 'releases', '-a', 'limited', '--json')) as { version: number; status: string }[];
    assert.equal(latest.status, 'failed');
    assert.match((await viaRouter(s, 'limited')).body, /hello from hello-node v1/, 'v1 keeps serving');
    await git(repo, 'reset', '--hard', 'HEAD~1');
  });

  await t.test('a pack past --max-push-size is refused by git itself, and the repository keeps its old main', async () => {
    await writeFile(join(repo, 'noise.bin'), randomBytes(4 * 1024 * 1024)); // incompressible: a 4 MB pack
    await commitAll(repo, 'too big to push');
    const r = await push(s, repo, 'limited');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /pack exceeds maximum allowed size/);
    const releases = (await cliJson(s, 'releases', '-a', 'limited', '--json')) as unknown[];
    assert.equal(releases.length, 2, 'no release was even started');
  });

  await t.test('the limits are checked at start', async () => {
    const bad = await cli(s, 'up', '--max-push-size', 'huge');
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /--max-push-size must be a size of at least 1M/);
  });
});

