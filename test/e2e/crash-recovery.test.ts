// Crash consistency: Summon killed with SIGKILL in the middle of a build. Measured before the
// fix: the release stayed `building` forever, its temporary checkout stayed on disk, and the
// build's processes (a daemon it started included) kept running.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { cli, cliJson, editFile, exampleRepo, push, startSummonProcess, tempDir, type SummonProcess } from './harness.js';
import { waitFor } from '../../src/testing/wait.js';
import { pidAlive } from '../../src/testing/pids.js';

/** The host pid of the one process whose command line (NUL-separated) starts with `cmdline`. */
async function hostPidOf(cmdline: string): Promise<number | null> {
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    if ((await readFile(`/proc/${d}/cmdline`, 'utf8').catch(() => '')).startsWith(cmdline)) return Number(d);
  }
  return null;
}

test('kill -9 during a build: at the next start the release is failed, its processes killed, its directory gone', async (t) => {
  const root = await tempDir('crash');
  const data = join(root, 'data');
  let s: SummonProcess = await startSummonProcess(data);
  const pids: number[] = [];
  t.after(async () => {
    await s.stop();
    for (const pid of pids) if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
    await rm(root, { recursive: true, force: true });
  });
  assert.equal((await cli(s, 'apps:create', 'crashy')).code, 0);
  // The build starts a daemon in the background (its own session, like a careless build
  // script), then works for a long time in the foreground. The build is confined (it can write
  // only its own directory, and its pids are its namespace's), so the test finds both on the
  // host by their command lines.
  const repo = await exampleRepo('hello-node', (d) => editFile(d, 'summon.toml', (x) => x.replace(
    /command\s*=\s*".*"/, 'command = "setsid sleep 613 & sleep 617 & wait"')));
  const pushing = push(s, repo, 'crashy');
  const found = await waitFor(async () => {
    const both = [await hostPidOf('sleep\x00613\x00'), await hostPidOf('sleep\x00617\x00')];
    return both.every((p) => p !== null) ? (both as number[]) : null;
  }, { timeoutMs: 30_000, what: 'the build to start its processes' });
  pids.push(...found);
  assert.equal(pids.length, 2);
  assert.ok(pids.every(pidAlive), 'the build is running');
  assert.ok((await readdir(join(data, 'builds'))).length > 0, 'with its directory');
  await s.kill9();
  const r = await pushing;
  assert.notEqual(r.code, 0, 'the push did not succeed');
  assert.ok(pids.every(pidAlive), 'SIGKILL of Summon alone leaves the build running');

  s = await startSummonProcess(data);
  assert.match(s.output(), /Recovered from a run that stopped mid-way: 1 interrupted release\(s\) marked failed, [1-9]\d* build process\(es\) killed, 1 build directory\(ies\) removed/);
  await waitFor(() => pids.every((p) => !pidAlive(p)), { timeoutMs: 5000, what: 'the build processes, the setsid daemon included, to be gone' });
  assert.deepEqual(await readdir(join(data, 'builds')), []);
  const [rel] = (await cliJson(s, 'releases', '-a', 'crashy', '--json')) as { version: number; status: string; reason: string }[];
  assert.equal(rel.status, 'failed');
  assert.match(rel.reason, /interrupted: Summon stopped during the build; push again/);
  const events = (await cliJson(s, 'events', '-a', 'crashy', '--json')) as { type: string; message: string }[];
  assert.ok(events.some((e) => e.type === 'build.failed' && /interrupted/.test(e.message)), 'and an event says so');
  // A start with nothing to recover says nothing about it.
  await s.stop();
  s = await startSummonProcess(data);
  assert.doesNotMatch(s.output(), /Recovered/);
});

test('kill -9 during a rollout: after the restart the rollout resumes with max_unavailable = 0 (the old instance drains only after the new one is healthy) and the release goes live', async (t) => {
  const root = await tempDir('crash-roll');
  const data = join(root, 'data');
  let s: SummonProcess = await startSummonProcess(data);
  t.after(async () => {
    await s.stop();
    await rm(root, { recursive: true, force: true });
  });
  assert.equal((await cli(s, 'apps:create', 'rolling')).code, 0);
  const repo = await exampleRepo('hello-node');
  const first = await push(s, repo, 'rolling');
  assert.equal(first.code, 0, first.stderr);
  type Inst = { id: string; version: number; state: string };
  const [v1] = (await cliJson(s, 'ps', '-a', 'rolling', '--json')) as Inst[];
  // v2 boots slowly: the rollout is still waiting for it when Summon is killed.
  const setting = cli(s, 'config:set', '-a', 'rolling', 'STARTUP_DELAY_MS=4000');
  const v2 = await waitFor(async () => ((await cliJson(s, 'ps', '-a', 'rolling', '--json')) as Inst[]).find((i) => i.version === 2),
    { timeoutMs: 20_000, what: 'the v2 instance to start' });
  assert.notEqual(v2.state, 'healthy');
  await s.kill9();
  await setting;
  s = await startSummonProcess(data);
  await waitFor(async () => ((await cliJson(s, 'releases', '-a', 'rolling', '--json')) as { version: number; status: string }[]).find((r) => r.version === 2 && r.status === 'live'),
    { timeoutMs: 60_000, what: 'v2 live after the restart' });
  const events = (await cliJson(s, 'events', '-a', 'rolling', '--json', '-n', '200')) as { type: string; at: number; data: { instance?: string } }[];
  const drained = events.find((e) => e.type === 'instance.draining' && e.data.instance === v1.id);
  assert.ok(drained, `v1's instance was drained: ${JSON.stringify(events.map((e) => [e.type, e.data.instance]))}`);
  // When the agent saw the new instance healthy (its healthyAt is set before the controller
  // hears of it; the instance.healthy event itself is stamped a moment after the drain it causes).
  const now = (await cliJson(s, 'ps', '-a', 'rolling', '--json')) as (Inst & { healthyAt: number | null })[];
  const healthyAt = now.filter((i) => i.version === 2).map((i) => i.healthyAt).filter((x): x is number => x !== null);
  assert.ok(healthyAt.length > 0 && Math.min(...healthyAt) <= drained.at,
    `a v2 instance was healthy before v1's was drained (${JSON.stringify({ healthyAt, drained: drained.at })})`);
});
