// Three `summon up` nodes on one real PostgreSQL form one control plane: one leads (the lease),
// every node serves the API (forwarded to the leader), git and its own data plane, and a
// release placed on any node starts there from the artifact kept in the database. SIGKILL the
// leader under load through the other two nodes' data planes: another node takes the lease,
// not one request fails, nothing stored is lost, and no instance is doubled or left orphaned.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { rm } from 'node:fs/promises';
import pg from 'pg';
import { startTestPostgres } from '../../src/store/pg-harness.js';
import { assertNoFailures, cli, cliJson, exampleRepo, push, startLoad, startSummonProcess, tempDir, viaRouter, type SummonProcess } from './harness.js';
import { waitFor } from '../../src/testing/wait.js';
import { pidAlive } from '../../src/testing/pids.js';

interface Ps { id: string; host: string; state: string; pid: number | null; version: number }

test('three nodes on one PostgreSQL: the leader killed under load', async (t) => {
  const pgs = await startTestPostgres();
  const root = await tempDir('cluster');
  // Every node of one store has the same master key (config vars are encrypted with it).
  process.env.SUMMON_MASTER_KEY = randomBytes(32).toString('hex');
  const db = new pg.Client({ connectionString: pgs.url });
  db.on('error', () => {});
  await db.connect();
  const nodes = new Map<string, SummonProcess>();
  const start = async (id: string) => {
    const s = await startSummonProcess(join(root, id, 'data'), ['--store', pgs.url, '--node-id', id], join(root, id, 'config'));
    nodes.set(id, s);
    return s;
  };
  t.after(async () => {
    for (const s of nodes.values()) await s.stop();
    await db.end();
    await pgs.stop();
    await rm(root, { recursive: true, force: true });
  });
  const lease = async () => (await db.query<{ holder: string; epoch: string; valid: boolean }>(`select holder, epoch, expires_at > now() as valid from cluster_lease`)).rows[0];

  const a = await start('node-a');
  assert.match(a.stdout(), /Cluster: node node-a of the control plane on postgres:\/\/127\.0\.0\.1:\d+\/postgres; leading/);
  const b = await start('node-b');
  const c = await start('node-c');
  assert.match(b.stdout(), /following/);
  assert.equal((await lease()).holder, 'node-a');

  // Every node answers; changes made through a follower are the leader's to carry out.
  const status = await cliJson(b, 'status', '--json');
  assert.equal(status.node, 'node-b');
  assert.equal(status.leader.node, 'node-a');
  assert.deepEqual(status.nodes.map((n: { id: string; leader: boolean; up: boolean }) => [n.id, n.leader, n.up]), [['node-a', true, true], ['node-b', false, true], ['node-c', false, true]]);
  const text = await cli(c, 'status');
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /Leader:\s+node-a since /);

  assert.equal((await cli(b, 'apps:create', 'ha')).code, 0);
  const pushed = await push(c, await exampleRepo('hello-node'), 'ha');
  assert.equal(pushed.code, 0, pushed.stderr);
  const conf = await cli(b, 'config:set', '-a', 'ha', 'GREETING=from the cluster');
  assert.equal(conf.code, 0, conf.stderr);
  const scaledUp = await cli(c, 'ps:scale', '-a', 'ha', '3');
  assert.equal(scaledUp.code, 0, scaledUp.stderr);
  const healthy = (ps: Ps[]) => ps.filter((i) => i.state === 'healthy');
  const before = await waitFor(async () => {
    const ps = (await cliJson(b, 'ps', '-a', 'ha', '--json')) as Ps[];
    return healthy(ps).length === 3 && new Set(ps.map((i) => i.host)).size === 3 ? ps : undefined;
  }, { timeoutMs: 60_000, what: 'three healthy instances, one on each node' });
  // The artifact went into the database before the release rolled out; the followers' agents
  // started their instances from it.
  assert.equal((await db.query('select count(*)::int as n from blobs')).rows[0].n, 1);
  for (const s of [b, c]) {
    await waitFor(async () => (await viaRouter(s, 'ha')).status === 200, { timeoutMs: 10_000, what: 'the app through a follower\'s data plane' });
  }
  const stored = {
    releases: (await cliJson(a, 'releases', '-a', 'ha', '--json')) as { version: number; status: string }[],
    events: (await db.query<{ id: string }>(`select id from events where app = 'ha' order by id`)).rows.map((r) => r.id),
  };
  assert.deepEqual(stored.releases.map((r) => [r.version, r.status]), [[2, 'live'], [1, 'superseded']]);
  const onA = before.filter((i) => i.host === 'node-a');
  assert.equal(onA.length, 1);

  const loads = [b, c].map((s) => startLoad(s, 'ha', { rate: 40, max: 100_000 }));
  await waitFor(() => loads.every((l) => l.completed() > 40), { timeoutMs: 20_000, what: 'load through both followers' });
  const killedAt = Date.now();
  await a.kill9();
  nodes.delete('node-a');
  const next = await waitFor(async () => {
    const l = await lease();
    return l.valid && l.holder !== 'node-a' ? l : undefined;
  }, { timeoutMs: 20_000, what: "another node to take the lease", intervalMs: 20 });
  const failoverMs = Date.now() - killedAt;
  assert.equal(Number(next.epoch), 2);
  const leader = nodes.get(next.holder)!;
  // The new leader runs the app on the two nodes left: node-a's instance replaced, none doubled.
  const after = await waitFor(async () => {
    const ps = (await cliJson(leader, 'ps', '-a', 'ha', '--json')) as Ps[];
    return healthy(ps).length === 3 && ps.length === 3 && ps.every((i) => i.host !== 'node-a') ? ps : undefined;
  }, { timeoutMs: 60_000, what: 'three healthy instances on the surviving nodes' });
  assert.equal(new Set(after.map((i) => i.id)).size, 3);
  // Traffic goes on a while after the failover.
  const mark = loads.map((l) => l.completed());
  await waitFor(() => loads.every((l, k) => l.completed() > mark[k] + 40), { timeoutMs: 20_000, what: 'more load after the failover' });
  const results = await Promise.all(loads.map((l) => l.stop()));
  for (const r of results) {
    assertNoFailures(r);
    assert.ok(r.samples.some(([s]) => s > killedAt + failoverMs), 'requests answered after the failover');
    assert.ok(r.samples.every(([, , v]) => v === 'v2'));
  }
  t.diagnostic(`failover: another node led ${failoverMs} ms after SIGKILL (lease 3 s, renewed every 1 s); ${results.map((r) => r.sent).join(' + ')} requests, none failed`);

  // Nothing stored is lost: the releases, the config var, every event.
  const releasesAfter = (await cliJson(leader, 'releases', '-a', 'ha', '--json')) as { version: number; status: string }[];
  assert.deepEqual(releasesAfter.map((r) => [r.version, r.status]), stored.releases.map((r) => [r.version, r.status]));
  assert.deepEqual(await cliJson(leader, 'config', '-a', 'ha', '--json'), { GREETING: 'from the cluster' });
  const eventsAfter = (await db.query<{ id: string }>(`select id from events where app = 'ha' order by id`)).rows.map((r) => r.id);
  assert.deepEqual(eventsAfter.slice(0, stored.events.length), stored.events);
  // A request through a follower's API that changes something reaches the new leader.
  const follower = [...nodes.values()].find((s) => s !== leader)!;
  assert.equal((await cli(follower, 'apps:create', 'after')).code, 0);
  assert.ok((await db.query(`select 1 from apps where name = 'after'`)).rows.length === 1);

  // node-a's instance kept running while its node was down (nothing stopped it); when node-a
  // comes back as a follower, the leader's view wins: it is stopped, not left orphaned.
  const orphan = onA[0];
  assert.ok(orphan.pid && pidAlive(orphan.pid), 'node-a\'s instance outlived its node');
  const back = await start('node-a');
  assert.match(back.stdout(), /following/);
  await waitFor(() => !pidAlive(orphan.pid!), { timeoutMs: 30_000, what: 'node-a\'s old instance to be stopped' });
  const final = (await cliJson(back, 'ps', '-a', 'ha', '--json')) as Ps[];
  assert.equal(final.length, 3);
  assert.equal((await lease()).holder, next.holder, 'a node coming back does not take the lease');
});

test('a leader paused with SIGSTOP wakes up deposed: its writes are refused and it follows', async (t) => {
  const pgs = await startTestPostgres();
  const root = await tempDir('cluster-stop');
  process.env.SUMMON_MASTER_KEY = randomBytes(32).toString('hex');
  const db = new pg.Client({ connectionString: pgs.url });
  db.on('error', () => {});
  await db.connect();
  const nodes: SummonProcess[] = [];
  const start = async (id: string) => {
    const s = await startSummonProcess(join(root, id, 'data'), ['--store', pgs.url, '--node-id', id], join(root, id, 'config'));
    nodes.push(s);
    return s;
  };
  t.after(async () => {
    for (const s of nodes) {
      s.proc.kill('SIGCONT');
      await s.stop();
    }
    await db.end();
    await pgs.stop();
    await rm(root, { recursive: true, force: true });
  });
  const a = await start('node-a');
  const b = await start('node-b');
  assert.equal((await cli(a, 'apps:create', 'paused')).code, 0);
  const pushed = await push(a, await exampleRepo('hello-node'), 'paused');
  assert.equal(pushed.code, 0, pushed.stderr);
  // Two instances: the paused leader has usage metered and instance rows to write when it wakes.
  assert.equal((await cli(a, 'ps:scale', '-a', 'paused', '2')).code, 0);
  await waitFor(async () => ((await cliJson(a, 'ps', '-a', 'paused', '--json')) as Ps[]).filter((i) => i.state === 'healthy').length === 2,
    { timeoutMs: 60_000, what: 'two healthy instances' });
  const load = startLoad(b, 'paused', { rate: 20, max: 100_000 });
  await waitFor(() => load.completed() > 20, { timeoutMs: 20_000, what: 'load through node-b' });

  a.proc.kill('SIGSTOP');
  await waitFor(async () => {
    const l = (await db.query<{ holder: string; epoch: string }>('select holder, epoch from cluster_lease')).rows[0];
    return l.holder === 'node-b' && l.epoch === '2';
  }, { timeoutMs: 20_000, what: 'node-b to take the lease from the paused leader', intervalMs: 20 });
  a.proc.kill('SIGCONT');
  // It wakes up past its lease's deadline: what its controller still writes as it closes (the
  // metering since its last flush) is refused, and it stands down. (That the database refuses
  // such a write even from a node that still believes it leads is lease.test.ts's.)
  await waitFor(() => /deposed/.test(a.stderr()), { timeoutMs: 20_000, what: 'node-a to say it was deposed' });
  assert.match(a.stderr(), /node node-a no longer holds the leader lease \(epoch 1\): write refused/);
  assert.equal((await db.query<{ holder: string }>('select holder from cluster_lease')).rows[0].holder, 'node-b');
  // The new leader publishes the app's route as it starts leading (written after the lease is
  // taken, not with it): the row becomes its, at epoch 2.
  await waitFor(async () => {
    const routes = (await db.query<{ epoch: string }>(`select epoch from cluster_routes where app = 'paused'`)).rows;
    return routes.length === 1 && routes[0].epoch === '2';
  }, { timeoutMs: 20_000, what: 'the route row to be the new leader\'s (epoch 2)' });
  // The deposed node's data plane follows the new leader's routes and keeps serving.
  await waitFor(async () => (await viaRouter(a, 'paused')).status === 200, { timeoutMs: 20_000, what: 'node-a\'s data plane to serve as a follower' });
  const status = await cliJson(a, 'status', '--json');
  assert.equal(status.leader.node, 'node-b');
  const res = await load.stop();
  assertNoFailures(res);
});
