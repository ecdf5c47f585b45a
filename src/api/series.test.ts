import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Instance } from '../core/types.js';
import { AppMetrics, type RouterMetrics } from '../router/metrics.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../store/open.js';
import type { SeriesRow } from '../store/store.js';
import { SeriesRecorder, histogramQuantile } from './series.js';

const inst = (app: string, state: Instance['state'], cpu: number | null): Instance => ({
  id: `${app}-${Math.random()}`, app, version: 1, host: 'h', state, address: '127.0.0.1', port: 1, pid: 1,
  startedAt: 0, healthyAt: 0, restarts: 0, reason: null, nextRetryAt: null, cpu, memoryBytes: null, updatedAt: 0,
});

test('histogramQuantile interpolates within the bucket that holds the rank', () => {
  // 100 observations: 50 in (0, 1], 50 in (1, 2]. p95 = rank 95 → 45/50 of the way through (1, 2].
  assert.equal(histogramQuantile(0.95, [1, 2], [50, 50, 0]), 1.9);
  assert.equal(histogramQuantile(0.5, [1, 2], [100, 0, 0]), 0.5);
  assert.equal(histogramQuantile(0.95, [1, 2], [0, 0, 10]), 2, '+Inf bucket answers the highest finite bound');
  assert.equal(histogramQuantile(0.95, [1, 2], [0, 0, 0]), null);
});

test('SeriesRecorder samples instances, CPU, request rate and p95 from counter deltas', () => {
  let now = 1_000_000;
  const m = new AppMetrics();
  let instances = [inst('web', 'healthy', 0.2), inst('web', 'healthy', 0.4), inst('web', 'starting', null)];
  const metrics = (): RouterMetrics => ({ apps: { web: m.snapshot() }, unrouted: 0 });
  const r = new SeriesRecorder({ instances: () => instances, metrics, intervalMs: 1000, retainMs: 3000, now: () => now });
  for (let i = 0; i < 7; i++) m.status(200, 0.003); // before the first sample: not counted in any rate
  r.sample();
  let p = r.get('web');
  assert.equal(p.length, 1);
  assert.deepEqual({ instances: p[0].instances, total: p[0].total, rps: p[0].rps, p95: p[0].p95Ms }, { instances: 2, total: 3, rps: null, p95: null });
  assert.ok(Math.abs((p[0].cpu ?? 0) - 0.3) < 1e-9);

  // 20 requests in 2 s, all between 50 and 100 ms
  for (let i = 0; i < 20; i++) m.status(200, 0.06);
  now += 2000;
  instances = [inst('web', 'healthy', 1)];
  r.sample();
  p = r.get('web');
  assert.equal(p[1].rps, 10);
  assert.ok(p[1].p95Ms! > 50 && p[1].p95Ms! <= 100, `p95 ${p[1].p95Ms}`);
  assert.equal(p[1].instances, 1);

  // no requests: rate 0 and no percentile; old points fall out after retainMs
  now += 2000;
  r.sample();
  p = r.get('web');
  assert.equal(p.at(-1)!.rps, 0);
  assert.equal(p.at(-1)!.p95Ms, null);
  assert.equal(p.length, 2, 'the first sample is older than 3 s and dropped');
  assert.deepEqual(r.get('nope'), []);
});

test('SeriesRecorder rejects a silly interval at construction', () => {
  assert.throws(() => new SeriesRecorder({ instances: () => [], metrics: () => ({ apps: {}, unrouted: 0 }), intervalMs: 0 }), /interval/);
});

test('SeriesRecorder with a store: the points outlive the recorder (a restart), one write per sample, none for idle apps', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'summon-series-'));
  const store = await openStore(join(dir, 'summon.db'));
  t.after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  let writes = 0;
  const counted = {
    addSeriesPoints: (p: SeriesRow[]) => {
      writes++;
      return store.addSeriesPoints(p);
    },
    listSeriesPoints: (since: number) => store.listSeriesPoints(since),
    pruneSeriesPoints: (before: number) => store.pruneSeriesPoints(before),
  };
  let now = 5_000_000;
  const m = new AppMetrics();
  const metrics = (): RouterMetrics => ({ apps: { web: m.snapshot(), idle: new AppMetrics().snapshot() }, unrouted: 0 });
  const instances = [inst('web', 'healthy', 0.5)];
  const r = new SeriesRecorder({ instances: () => instances, metrics, intervalMs: 1000, retainMs: 10_000, now: () => now, store: counted });
  assert.equal(await r.load(), 0);
  for (let i = 0; i < 3; i++) {
    for (let k = 0; k < 10; k++) m.status(200, 0.002);
    r.sample();
    now += 1000;
  }
  await r.stop();
  assert.equal(writes, 3, 'one batch per sample, and the idle app (no instances, no traffic) in none');
  const before = r.get('web');
  assert.equal(before.length, 3);
  assert.deepEqual(r.get('idle'), []);

  // A new recorder on the same store (Summon started again) has the history, and goes on from it.
  const again = new SeriesRecorder({ instances: () => instances, metrics, intervalMs: 1000, retainMs: 10_000, now: () => now, store });
  assert.equal(await again.load(), 3);
  assert.deepEqual(again.get('web'), before);
  again.sample();
  await again.stop();
  assert.equal(again.get('web').length, 4);
  assert.equal(again.get('web').at(-1)!.rps, null, 'no rate across the restart: the counters may have started again');

  // Points past the retention are pruned from the store too.
  now += 60_000;
  again.sample();
  await again.stop();
  assert.deepEqual((await store.listSeriesPoints(0)).map((p) => p.at), [now]);
});
