// The leader lease, its fence, the push lock and artifacts in PostgreSQL, on a real PostgreSQL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';
import { startTestPostgres } from '../store/pg-harness.js';
import { createPostgresStore } from '../store/postgres.js';
import { BlobStore } from '../artifacts/blob-store.js';
import { waitFor } from '../testing/wait.js';
import { FencedError, Lease, readLease, tryLease } from './lease.js';
import { fencedStore } from './fenced-store.js';
import { ClusterNode } from './cluster-node.js';
import { CHUNK_BYTES, PgBlobs } from './pg-blobs.js';

async function setup(t: { after(fn: () => Promise<void>): void }) {
  const pgs = await startTestPostgres();
  const store = await createPostgresStore(pgs.url);
  const nodes: ClusterNode[] = [];
  t.after(async () => {
    for (const n of nodes) await n.close();
    await store.close();
    await pgs.stop();
  });
  const node = (id: string, lease?: { ttlMs?: number; renewMs?: number; marginMs?: number }) => {
    const n = new ClusterNode({ url: pgs.url, node: id, version: 'test', ...(lease ? { lease } : {}) });
    nodes.push(n);
    return n;
  };
  return { pgs, store, node };
}

test('a paused old leader\'s writes are refused once another node took the lease', async (t) => {
  const { store, node } = await setup(t);
  await store.createApp('fenceapp', Date.now());
  const a = node('node-a');
  const b = node('node-b', { ttlMs: 600, renewMs: 100, marginMs: 100 });
  // A takes the lease once and is then paused: it never renews (as a process stopped with SIGSTOP).
  const held = await tryLease(a.pool, 'node-a', 0, 600);
  assert.ok(held, 'node-a took the free lease');
  assert.equal(held.epoch, 1);
  const aStore = fencedStore(store, a.db, 'node-a', () => held.epoch);
  // While A holds it, its writes go through and B cannot take it.
  await aStore.updateApp('fenceapp', { desiredCount: 2 });
  assert.equal(await tryLease(b.pool, 'node-b', 0, 600), null, 'a valid lease is not taken');

  let took = 0;
  b.acquired = (s) => (took = s.epoch);
  await b.startLease();
  await waitFor(() => took > 0, { timeoutMs: 10_000, what: 'node-b to take the expired lease' });
  assert.equal(took, 2, 'the epoch went up by one');
  const bStore = fencedStore(store, b.db, 'node-b', () => b.lease.epoch());
  await bStore.updateApp('fenceapp', { desiredCount: 3 });

  // A wakes up believing it leads at epoch 1 and writes: refused, nothing changed.
  await assert.rejects(aStore.updateApp('fenceapp', { desiredCount: 7 }), (e: unknown) => e instanceof FencedError && /node-a no longer holds/.test((e as Error).message));
  await assert.rejects(aStore.putInstance({
    id: 'fenceapp-x', app: 'fenceapp', version: 1, host: 'node-a', state: 'pending', address: '127.0.0.1', port: null, pid: null,
    startedAt: null, healthyAt: null, restarts: 0, reason: null, nextRetryAt: null, cpu: null, memoryBytes: null, updatedAt: Date.now(),
  }), FencedError);
  assert.equal((await store.getApp('fenceapp'))!.desiredCount, 3, 'the deposed leader changed nothing');
  assert.deepEqual(await store.listInstances({ app: 'fenceapp' }), []);
  // Even its old epoch with its own name back in the row would not do: the epoch is the fence.
  assert.equal((await readLease(a.pool))!.holder, 'node-b');
});

test('the holder renews; a node that cannot renew stops counting itself leader before the row expires', async (t) => {
  const { node } = await setup(t);
  const a = node('node-a', { ttlMs: 900, renewMs: 150, marginMs: 200 });
  const lost: string[] = [];
  a.lost = (why) => lost.push(why);
  await a.startLease();
  assert.ok(a.lease.isLeader());
  const first = a.lease.state()!;
  // Several renewals later it still holds the same epoch, and the row's expiry moved on.
  await waitFor(async () => (await readLease(a.pool))!.expiresAt > first.expiresAt + 300, { timeoutMs: 10_000, what: 'renewals' });
  assert.equal(a.lease.epoch(), first.epoch);
  // Its database connections refused from now on (as a partition): it gives up the lease on
  // its own clock while the row is still valid in the database.
  await a.pool.query(`update cluster_lease set holder = holder`); // still reachable here
  const blocked = a.pool.query.bind(a.pool);
  (a.pool as unknown as { query: unknown }).query = () => Promise.reject(new Error('partitioned'));
  await waitFor(() => lost.length > 0, { timeoutMs: 10_000, what: 'node-a to give the lease up' });
  (a.pool as unknown as { query: unknown }).query = blocked;
  assert.equal(a.lease.isLeader(), false);
  assert.throws(() => a.lease.epoch(), FencedError);
});

test('one leader among three nodes; a stopped leader hands over at once when it releases the lease', async (t) => {
  const { node } = await setup(t);
  const ns = ['node-a', 'node-b', 'node-c'].map((id) => node(id, { ttlMs: 800, renewMs: 100, marginMs: 100 }));
  await Promise.all(ns.map((n) => n.startLease()));
  await waitFor(() => ns.filter((n) => n.lease.isLeader()).length === 1, { timeoutMs: 5000, what: 'one leader' });
  const leader = ns.find((n) => n.lease.isLeader())!;
  const epoch = leader.lease.epoch();
  await leader.lease.stop({ release: true });
  const rest = ns.filter((n) => n !== leader);
  await waitFor(() => rest.filter((n) => n.lease.isLeader()).length === 1, { timeoutMs: 5000, what: 'another leader' });
  assert.equal(rest.find((n) => n.lease.isLeader())!.lease.epoch(), epoch + 1);
  assert.throws(() => new Lease({ pool: leader.pool, node: 'x', ttlMs: 1000, renewMs: 900, marginMs: 200 }), /must exceed/);
});

test('two pushes to one app on two nodes are serialised by the app\'s row lock', async (t) => {
  const { node } = await setup(t);
  const a = node('node-a');
  const b = node('node-b');
  const order: string[] = [];
  const releaseA = await a.lockApp('pushapp');
  order.push('a locked');
  const bDone = b.lockApp('pushapp').then(async (release) => {
    order.push('b locked');
    await release();
  });
  // B waits while A holds the row (its query is blocked in PostgreSQL, not polling).
  const waiting = await waitFor(async () => {
    const r = await a.pool.query(`select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and query like '%push_locks%'`);
    return r.rows[0].n > 0 ? true : undefined;
  }, { timeoutMs: 10_000, what: 'node-b to wait for the lock' });
  assert.ok(waiting);
  assert.deepEqual(order, ['a locked']);
  // Another app is not held up.
  await (await b.lockApp('otherapp'))();
  order.push('a done');
  await releaseA();
  await bDone;
  assert.deepEqual(order, ['a locked', 'a done', 'b locked']);
});

test('artifacts in PostgreSQL: chunked, fetched by another node, refused when altered', async (t) => {
  const { pgs, node } = await setup(t);
  const dir = await mkdtemp(join(tmpdir(), 'summon-pgblobs-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const a = node('node-a');
  const b = node('node-b');
  const blobsA = new BlobStore({ dir: join(dir, 'a') });
  const blobsB = new BlobStore({ dir: join(dir, 'b') });
  const src = join(dir, 'artifact');
  const bytes = randomBytes(CHUNK_BYTES * 2 + 1234);
  await writeFile(src, bytes);
  const sha = createHash('sha256').update(bytes).digest('hex');
  await blobsA.put(src);
  const pa = new PgBlobs(a.pool, blobsA);
  const pb = new PgBlobs(b.pool, blobsB);
  await assert.rejects(pb.ensure(sha), /neither this node's blob store nor the database/);
  await Promise.all([pa.upload(sha), pa.upload(sha)]);
  const c = new pg.Client({ connectionString: pgs.url });
  c.on('error', () => {});
  await c.connect();
  assert.deepEqual((await c.query('select chunks, size from blobs')).rows, [{ chunks: 3, size: String(bytes.length) }]);
  await pb.ensure(sha);
  assert.equal(await blobsB.has(sha), true);
  // A chunk altered in the database: the fetched bytes are not that digest, nothing is kept.
  await c.query(`update blob_chunks set data = overlay(data placing '\\x00'::bytea from 10) where seq = 1`);
  const blobsC = new BlobStore({ dir: join(dir, 'c') });
  await assert.rejects(new PgBlobs(b.pool, blobsC).ensure(sha), /refused/);
  assert.equal(await blobsC.has(sha), false);
  await c.end();
});
