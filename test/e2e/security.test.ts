// The attacks of an app owner turned attacker, replayed through a real Summon: a pushed build
// and a running process-target app try to read Summon's keys and database, the blob store and
// another app's files, signal Summon, see the host's processes, write the system, make a
// namespace or a mount, call the API from loopback, exceed memory and process limits, and
// leave a daemon behind. Each must be refused or contained, with the other app untouched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { cli, cliJson, exampleRepo, push, startSummonProcess, tempDir, viaRouter, ROOT, git, commitAll, type SummonProcess } from './harness.js';
import { waitFor } from '../../src/testing/wait.js';

const EXPECTED_REFUSED = ['read-admin.token', 'read-agent.token', 'read-master.key', 'read-summon.db', 'read-uids.json',
  'list-blobs', 'victim-files', 'signal-summon', 'write-usr', 'unshare', 'mount'];

function verdicts(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    const x = /ATTACK ([\w.-]+): (\S+)/.exec(line);
    if (x) m.set(x[1]!, x[2]!);
  }
  return m;
}

function assertContained(v: Map<string, string>, where: string, appUid: number): void {
  for (const k of EXPECTED_REFUSED) assert.equal(v.get(k), 'refused', `${where}: ${k} was ${v.get(k) ?? 'not tried'}`);
  assert.ok(Number(v.get('processes-seen')) <= 12, `${where}: sees ${v.get('processes-seen')} processes (only its own pid namespace)`);
  assert.equal(Number(v.get('uid')), appUid, `${where}: runs as the app's uid`);
  assert.equal(v.get('capabilities'), '0000000000000000', `${where}: no capabilities`);
  assert.equal(v.get('api-without-token'), 'status-401', `${where}: the API refuses it without a token (and it has none)`);
}

/** Host processes whose command line holds `marker`. */
async function hostProcessesWith(marker: string): Promise<number[]> {
  const found: number[] = [];
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const cmd = await readFile(`/proc/${d}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes(marker)) found.push(Number(d));
  }
  return found;
}

test('a pushed build and a running app are confined: every attack refused or contained', { timeout: 600_000 }, async (t) => {
  const root = await tempDir('security');
  const data = join(root, 'data');
  const s: SummonProcess = await startSummonProcess(data, ['--no-vm']);
  t.after(async () => {
    await s.stop();
    await rm(root, { recursive: true, force: true });
  });

  // The victim: a live app with a secret.
  assert.equal((await cli(s, 'apps:create', 'victim')).code, 0);
  assert.equal((await cli(s, 'config:set', '-a', 'victim', 'API_SECRET=victim-secret-value')).code, 0);
  const victimPush = await push(s, await exampleRepo('hello-node'), 'victim');
  assert.equal(victimPush.code, 0, victimPush.stderr);
  const [victim] = await cliJson(s, 'ps', '-a', 'victim', '--json');
  const victimDir = join(data, 'agent', 'instances', victim.id);

  // The attacker: its own app, configured with where everything is.
  assert.equal((await cli(s, 'apps:create', 'attacker')).code, 0);
  assert.equal((await cli(s, 'config:set', '-a', 'attacker', `ATTACK_DATA=${data}`, `ATTACK_API=${s.apiUrl}`,
    `ATTACK_SUMMON_PID=${s.proc.pid}`, `ATTACK_VICTIM_DIR=${victimDir}`)).code, 0);
  const repo = await tempDir('attacker-repo');
  await cp(join(ROOT, 'test', 'fixtures', 'attacker'), repo, { recursive: true });
  await git(repo, 'init', '-q', '-b', 'main');
  await commitAll(repo, 'attack');

  let uids: Record<string, number> = {};
  let released = false;
  const needsRelease = () => assert.ok(released, 'the attacker app was not released (see the first subtest)');
  await t.test('the build: keys, database, blobs, other apps, Summon, the system, namespaces, memory, processes, a daemon', async () => {
    const r = await push(s, repo, 'attacker');
    assert.equal(r.code, 0, r.stderr);
    released = true;
    uids = JSON.parse(await readFile(join(data, 'uids.json'), 'utf8')).apps;
    assert.ok(uids.attacker && uids.victim && uids.attacker !== uids.victim, `each app its own uid: ${JSON.stringify(uids)}`);
    const v = verdicts(r.stderr);
    assertContained(v, 'build', uids.attacker!);
    assert.equal(v.get('build-memory'), 'exit-137', 'the allocator was OOM-killed at [build].memory');
    const forked = Number(/forked-(\d+)/.exec(v.get('build-pids') ?? '')?.[1] ?? NaN);
    assert.ok(forked < 256, `the build forked ${forked} of 400 processes: held under its 256-task limit`);
    assert.doesNotMatch(r.stderr, /victim-secret-value/);
    // The daemon went with the build's cgroup unit.
    assert.deepEqual(await hostProcessesWith('attacker-daemon-marker'), [], 'nothing the build started outlives it');
  });

  await t.test('the running app: the same probes from inside an instance', async () => {
    needsRelease();
    const res = await viaRouter(s, 'attacker', '/probe');
    assert.equal(res.status, 200, res.body);
    assertContained(verdicts(res.body), 'instance', uids.attacker!);
    const [inst] = await cliJson(s, 'ps', '-a', 'attacker', '--json');
    const status = await readFile(`/proc/${inst.pid}/status`, 'utf8').catch(() => '');
    // The pid Summon reports is the sandbox's; its app runs below it as the app's user.
    assert.ok(status.length > 0, `instance pid ${inst.pid} is a live host process`);
  });

  await t.test('an instance over [run].memory is OOM-killed, reported so, and healed', async () => {
    needsRelease();
    const [before] = await cliJson(s, 'ps', '-a', 'attacker', '--json');
    await viaRouter(s, 'attacker', '/oom').catch(() => undefined);
    const crash = await waitFor(async () => {
      const events = await cliJson(s, 'events', '-a', 'attacker', '--json');
      return events.find((e: { type: string; message: string }) => e.type === 'instance.crashed' && /oom-killed/.test(e.message));
    }, { timeoutMs: 60_000, what: 'an instance.crashed event saying oom-killed' });
    assert.match(crash.message, /memory limit of 64M/);
    await waitFor(async () => {
      const [now] = await cliJson(s, 'ps', '-a', 'attacker', '--json');
      return now && now.state === 'healthy' && now.restarts > (before.restarts ?? 0);
    }, { timeoutMs: 60_000, what: 'the attacker instance healthy again after its restart' });
  });

  await t.test('the victim is untouched: same instance, same release, still serving', async () => {
    const [now] = await cliJson(s, 'ps', '-a', 'victim', '--json');
    assert.equal(now.id, victim.id);
    assert.equal(now.state, 'healthy');
    const res = await viaRouter(s, 'victim');
    assert.equal(res.status, 200);
    assert.match(res.body, /hello from hello-node v1/);
    const releases = await cliJson(s, 'releases', '-a', 'victim', '--json');
    assert.deepEqual(releases.map((r: { version: number; status: string }) => [r.version, r.status]), [[1, 'live']]);
  });

  await t.test('Summon\'s files: DATA 0700, keys 0400, the database 0600', async () => {
    const { stat } = await import('node:fs/promises');
    const mode = async (p: string) => ((await stat(p)).mode & 0o777).toString(8);
    assert.equal(await mode(data), '700');
    for (const k of ['admin.token', 'agent.token', 'master.key']) assert.equal(await mode(join(data, k)), '400', k);
    assert.equal(await mode(join(data, 'summon.db')), '600');
    const logs = await waitFor(async () => {
      const files = (await readdir(join(data, 'logs'))).filter((f) => f.endsWith('.log'));
      return files.length > 0 ? files : null;
    }, { timeoutMs: 20_000, what: 'an app log file on disk' });
    assert.equal(await mode(join(data, 'logs')), '700');
    for (const f of logs) assert.equal(await mode(join(data, 'logs', f)), '600', f);
  });
});
