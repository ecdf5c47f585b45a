// Artifact integrity, replayed as an attacker with write access to the blob store would try it
// (issue 11; measured on main before the fix: the rewritten artifact ran on the next restart
// and after a Summon restart, because a blob's sha256 was never checked before it ran).
// A process-target app is pushed twice with the real git client; its live artifact file in
// DATA/blobs is then made writable and replaced by a script that leaves a marker file. Neither
// `summon ps:restart` nor a restart of Summon may run it: the start is refused with an event
// naming the digest found, the release is marked broken, `summon releases` names the rollback,
// and another app's running instance is left alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmod, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { cli, cliJson, commitAll, editFile, exampleRepo, push, startSummonProcess, tempDir, viaRouter, type SummonProcess } from './harness.js';
import { waitFor } from '../../src/testing/wait.js';

type Rel = { version: number; status: string; artifactSha256: string | null; brokenReason: string | null; brokenAt: number | null };
type Inst = { id: string; version: number; state: string; pid: number | null; reason: string | null; nextRetryAt: number | null };
type Ev = { id: number; type: string; message: string; data: Record<string, unknown> };

test('a rewritten artifact in the blob store never runs: restart and Summon restart refuse it, the release is broken, other apps untouched', async (t) => {
  const root = await tempDir('sec-artifacts');
  const data = join(root, 'data');
  const marker = join(root, 'planted-code-ran');
  let s: SummonProcess = await startSummonProcess(data);
  const repos: string[] = [];
  t.after(async () => {
    await s.stop();
    for (const r of [root, ...repos]) await rm(r, { recursive: true, force: true });
  });

  for (const app of ['victim', 'bystander']) assert.equal((await cli(s, 'apps:create', app)).code, 0);
  const victimRepo = await exampleRepo('hello-node');
  const otherRepo = await exampleRepo('hello-node');
  repos.push(victimRepo, otherRepo);
  for (const [repo, app] of [[victimRepo, 'victim'], [otherRepo, 'bystander']] as const) {
    const r = await push(s, repo, app);
    assert.equal(r.code, 0, r.stderr);
  }
  // v2 of the victim: another artifact, so v1 stays an intact release to roll back to.
  await editFile(victimRepo, 'src/server.mjs', (x) => `${x}\n// v2: another artifact\n`);
  await commitAll(victimRepo, 'v2');
  const second = await push(s, victimRepo, 'victim');
  assert.equal(second.code, 0, second.stderr);

  const rels = (await cliJson(s, 'releases', '-a', 'victim', '--json')) as Rel[];
  const v2 = rels.find((r) => r.version === 2)!;
  const v1 = rels.find((r) => r.version === 1)!;
  assert.equal(v2.status, 'live');
  assert.notEqual(v1.artifactSha256, v2.artifactSha256);
  assert.equal(v2.brokenReason, null);
  const sha = v2.artifactSha256!;
  const blob = join(data, 'blobs', sha.slice(0, 2), sha);
  // Stored read-only, in directories nobody else may write.
  assert.equal((await stat(blob)).mode & 0o777, 0o555);
  for (const dir of [join(data, 'blobs'), join(data, 'blobs', sha.slice(0, 2))]) assert.equal((await stat(dir)).mode & 0o022, 0, `${dir} is not writable by group or others`);

  const [victimBefore] = (await cliJson(s, 'ps', '-a', 'victim', '--json')) as Inst[];
  const [other] = (await cliJson(s, 'ps', '-a', 'bystander', '--json')) as Inst[];
  assert.equal(other.state, 'healthy');
  assert.ok(other.pid);

  // The attack: root makes the blob writable and plants code under the same name.
  const planted = `#!/bin/sh\necho pwned > ${marker}\nexec sleep 600\n`;
  await chmod(blob, 0o755);
  await writeFile(blob, planted);
  const plantedSha = createHash('sha256').update(planted).digest('hex');
  const altered = new RegExp(`artifact of v2 altered: sha256 ${plantedSha.slice(0, 12)}…≠${sha.slice(0, 12)}…`);

  // 1. A rolling restart: the new instance is refused, the restart stops, the old one serves.
  const restart = await cli(s, 'ps:restart', '-a', 'victim');
  assert.notEqual(restart.code, 0, `the restart must fail: ${restart.stdout}`);
  assert.match(restart.stderr + restart.stdout, altered);
  assert.equal(existsSync(marker), false, 'the planted code did not run');
  let events = (await cliJson(s, 'events', '-a', 'victim', '--json')) as Ev[];
  const refusal = events.find((e) => e.type === 'artifact.altered');
  assert.ok(refusal, 'an artifact.altered event');
  assert.match(refusal.message, altered);
  assert.match(refusal.message, /the blob store file was changed after the release was built/);
  assert.equal(refusal.data.expected, sha);
  assert.equal(refusal.data.actual, plantedSha);
  const broken = await waitFor(() => events.find((e) => e.type === 'release.broken') ?? cliJson(s, 'events', '-a', 'victim', '--json').then((es: Ev[]) => {
    events = es;
    return es.find((e) => e.type === 'release.broken');
  }), { timeoutMs: 5000, what: 'release.broken' });
  assert.match(broken.message, /^v2 marked broken: artifact of v2 altered: .* — roll back with `summon rollback -a victim v1`$/);
  let now = (await cliJson(s, 'releases', '-a', 'victim', '--json')) as Rel[];
  const v2Broken = now.find((r) => r.version === 2)!;
  assert.equal(v2Broken.status, 'live', 'still the live release (its running instance was started before the attack)');
  assert.match(v2Broken.brokenReason ?? '', altered);
  assert.equal(typeof v2Broken.brokenAt, 'number');
  const listing = await cli(s, 'releases', '-a', 'victim');
  assert.equal(listing.code, 0);
  assert.match(listing.stdout, /live, broken/);
  assert.match(listing.stdout, /v2 is live but broken: artifact of v2 altered: .*\nTo serve an intact release, roll back with `summon rollback -a victim v1`\./);
  const info = await cli(s, 'releases:info', '-a', 'victim', 'v2');
  assert.match(info.stdout, /^Broken: {5}artifact of v2 altered: sha256 /m);
  // The refused instance is dropped (drained at once); the one from before serves on.
  await waitFor(async () => ((await cliJson(s, 'ps', '-a', 'victim', '--json')) as Inst[]).length === 1, { timeoutMs: 5000, what: 'the refused instance dropped' });
  const victimNow = (await cliJson(s, 'ps', '-a', 'victim', '--json')) as Inst[];
  assert.deepEqual(victimNow.map((i) => [i.id, i.pid, i.state]), [[victimBefore.id, victimBefore.pid, 'healthy']], 'the instance from before serves on');
  assert.match((await viaRouter(s, 'victim')).body, /hello from hello-node v2/);
  const otherNow = (await cliJson(s, 'ps', '-a', 'bystander', '--json')) as Inst[];
  assert.deepEqual(otherNow.map((i) => [i.id, i.pid, i.state]), [[other.id, other.pid, 'healthy']], 'the other app is untouched');

  // 2. A restart of Summon: every instance starts again; the victim's is refused, once.
  await s.stop();
  s = await startSummonProcess(data);
  const bystander = await waitFor(async () => ((await cliJson(s, 'ps', '-a', 'bystander', '--json')) as Inst[]).find((i) => i.state === 'healthy'),
    { timeoutMs: 30_000, what: 'the other app healthy again after the restart' });
  assert.match((await viaRouter(s, 'bystander')).body, /hello from hello-node v1/);
  const refused = await waitFor(async () => ((await cliJson(s, 'ps', '-a', 'victim', '--json')) as Inst[]).find((i) => i.state === 'crashed' && i.reason !== null),
    { timeoutMs: 30_000, what: 'the victim\'s instance refused after the restart' });
  assert.match(refused.reason!, altered);
  assert.equal(refused.pid, null);
  assert.equal(refused.nextRetryAt, null, 'no restart is scheduled: the blob is not hashed again and again');
  assert.equal(existsSync(marker), false, 'the planted code did not run after the Summon restart either');
  assert.equal(bystander.state, 'healthy');
  events = (await cliJson(s, 'events', '-a', 'victim', '--json')) as Ev[];
  assert.equal(events.filter((e) => e.type === 'release.broken').length, 1, 'marked broken once');
  const refusals = events.filter((e) => e.type === 'artifact.altered').length;
  assert.ok(refusals >= 2);
  const notRetried = (await cliJson(s, 'ps', '-a', 'victim', '--json')) as Inst[];
  assert.deepEqual(notRetried.map((i) => [i.id, i.state]), [[refused.id, 'crashed']]);
  now = (await cliJson(s, 'releases', '-a', 'victim', '--json')) as Rel[];
  assert.match(now.find((r) => r.version === 2)!.brokenReason ?? '', altered, 'still broken after the restart');

  // 3. The advice works: rolling back to v1 serves the intact artifact.
  const rb = await cli(s, 'rollback', '-a', 'victim', 'v1');
  assert.equal(rb.code, 0, rb.stderr + rb.stdout);
  assert.match((await viaRouter(s, 'victim')).body, /hello from hello-node v3/);
  assert.equal(existsSync(marker), false);
  assert.equal(await readFile(blob, 'utf8'), planted, 'the test really altered the stored blob');
  events = (await cliJson(s, 'events', '-a', 'victim', '--json')) as Ev[];
  assert.equal(events.filter((e) => e.type === 'artifact.altered').length, refusals, 'nothing refused since: no restart loop');
});
