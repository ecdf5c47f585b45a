// Idle density: what 1,000 deployed apps scaled to zero cost the Summon process in memory and
// in CPU while nothing happens, against a Summon with no apps running beside it in the same
// window (a machine shared with other work slows both alike).
//
// How the 1,000 apps are made (deploying each with git push would take far too long):
//   - one app is pushed for real (examples/hello-node, [scale] min = 0, idle_timeout 1s) and
//     left to idle down to zero instances;
//   - the other 999 are created through the API (POST /api/apps, as `summon apps:create`);
//   - Summon is stopped, and each of the 999 gets a copy of the pushed release (same artifact,
//     manifest, build manifest and config) written through the Store interface, live, with 0
//     instances wanted — what a deploy that then idled to zero leaves in the store;
//   - Summon is started again on that data: it loads 1,000 apps with live releases, all at zero.
// The peer, a fresh Summon with no apps, runs at the same time. Memory is read by each child
// right after two forced full GCs (bench/lib/summon-child.ts, --expose-gc), several times, and
// printed as the median with its spread: RSS alone swings by tens of MiB with V8's collection
// schedule (on main this printed "+-42.4 MiB" for the series line). CPU is utime+stime from
// /proc over the same window for both. A few of the copied apps are then woken by a request to
// show they are real, servable apps. Last, the dashboard series recorder is run 50× faster
// (100 ms) in both Summons to see what an hour's worth of samples (720) adds to the heap.
//
//   npx tsc -p tsconfig.json && node dist/bench/idle-density.js
//
// Env: BENCH_APPS (default 1000), BENCH_IDLE_SECONDS (default 30). Writes bench/results/idle-density.json.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { openStore } from '../src/store/open.js';
import {
  cpuTicks, deployHello, median, round, routerGet, rssKiB, runBench, sleep, startSummonChild, table, tempDir, TICKS_PER_SECOND, until, writeResult,
  type RunningSummonProc,
} from './lib/platform.js';

const APPS = Number(process.env.BENCH_APPS ?? 1000);
const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 30);
// Start-up's own work (loading 1,000 apps, the first reconciles) is over well before this.
const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? 10_000);
const GOAL_RSS_MIB = 50;
const GOAL_CPU_POINTS = 0.2;
const MIB = 2 ** 20;
const name = (i: number) => `app-${String(i).padStart(4, '0')}`;

interface Idle { cpuPercent: number; cpuWindows: number[]; heapMiB: number[]; rssMiB: number[]; rssNoGcLowMiB: number }

/** Both processes over the same window: CPU from /proc, memory after forced GC every few seconds. */
async function idleTogether(ps: RunningSummonProc[]): Promise<Idle[]> {
  await sleep(SETTLE_MS);
  const t0 = ps.map((p) => cpuTicks(p.pid));
  const w0 = performance.now();
  const out: Idle[] = ps.map(() => ({ cpuPercent: 0, cpuWindows: [], heapMiB: [], rssMiB: [], rssNoGcLowMiB: Infinity }));
  const every = 5;
  let last = t0.slice();
  let lastAt = performance.now();
  for (let i = 0; i < IDLE_SECONDS; i++) {
    await sleep(1000);
    ps.forEach((p, k) => (out[k].rssNoGcLowMiB = Math.min(out[k].rssNoGcLowMiB, rssKiB(p.pid) / 1024)));
    if ((i + 1) % every === 0) {
      // CPU per 5 s sub-window, for the noise of the difference.
      const ticks = ps.map((p) => cpuTicks(p.pid));
      const at = performance.now();
      ps.forEach((_, k) => out[k].cpuWindows.push(((ticks[k] - last[k]) / TICKS_PER_SECOND / ((at - lastAt) / 1000)) * 100));
      last = ticks;
      lastAt = at;
    }
  }
  const wall = (performance.now() - w0) / 1000;
  ps.forEach((p, k) => (out[k].cpuPercent = round(((cpuTicks(p.pid) - t0[k]) / TICKS_PER_SECOND / wall) * 100, 2)));
  // Memory after the CPU window, so the forced GCs do not count as idle CPU.
  for (let i = 0; i < every; i++) {
    for (const [k, p] of ps.entries()) {
      const m = await p.memAfterGc();
      out[k].heapMiB.push(m.heapUsed / MIB);
      out[k].rssMiB.push(m.rss / MIB);
    }
    await sleep(1000);
  }
  return out;
}

const spread = (xs: number[]) => `${round(median(xs))} (${round(Math.min(...xs))}–${round(Math.max(...xs))})`;

/** Least-squares slope of y over x, and the residuals' standard deviation (the noise). */
function fit(xs: number[], ys: number[]): { slope: number; noise: number; slopeError: number } {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i] - mx) * (ys[i] - my);
    sxx += (xs[i] - mx) ** 2;
  }
  const slope = sxx ? sxy / sxx : 0;
  const res = ys.map((y, i) => y - (my + slope * (xs[i] - mx)));
  const noise = Math.sqrt(res.reduce((a, r) => a + r * r, 0) / Math.max(1, n - 2));
  return { slope, noise, slopeError: sxx ? noise / Math.sqrt(sxx) : 0 };
}

/** Heap after GC every 2 s over `seconds`, fitted: bytes per series sample, with the noise. */
async function seriesGrowth(p: RunningSummonProc, intervalMs: number, seconds: number): Promise<{ perSampleBytes: number; perSampleErrorBytes: number; noiseKiB: number; heapKiB: number[] }> {
  const xs: number[] = [];
  const ys: number[] = [];
  const t0 = performance.now();
  for (;;) {
    const m = await p.memAfterGc();
    const t = performance.now() - t0;
    xs.push(t / intervalMs);
    ys.push(m.heapUsed);
    if (t >= seconds * 1000) break;
    await sleep(2000);
  }
  const f = fit(xs, ys);
  return { perSampleBytes: f.slope, perSampleErrorBytes: f.slopeError, noiseKiB: round(f.noise / 1024), heapKiB: ys.map((y) => round(y / 1024)) };
}

runBench('idle-density', async () => {
  const root = await tempDir('bench-density');
  try {
    // Build the 1,000 apps.
    const dataDir = path.join(root, 'data');
    let s = await startSummonChild({ dataDir });
    let createMs = 0;
    let afterCreateRss = 0;
    try {
      await deployHello(s, name(0), (t) => t.replace(/\[scale\][\s\S]*$/, '[scale]\nmin = 0\nmax = 1\nidle_timeout = "1s"\n'));
      await until('the pushed app to idle to zero', async () => (await s.client.instances(name(0))).length === 0 && (await s.client.app(name(0))).desiredCount === 0, 30_000, 100);
      const t0 = performance.now();
      const queue = Array.from({ length: APPS - 1 }, (_, i) => name(i + 1));
      await Promise.all(Array.from({ length: 8 }, async () => {
        for (let n = queue.shift(); n; n = queue.shift()) await s.client.createApp(n);
      }));
      createMs = performance.now() - t0;
      afterCreateRss = rssKiB(s.pid);
    } finally {
      await s.stop();
    }
    const store = await openStore(path.join(dataDir, 'summon.db'));
    const t1 = performance.now();
    try {
      const tpl = await store.getRelease(name(0), 1);
      if (!tpl) throw new Error('the pushed release is missing');
      const now = Date.now();
      for (let i = 1; i < APPS; i++) {
        await store.createRelease(name(i), {
          status: 'live', description: `Copy of ${name(0)} v1 (idle-density benchmark)`, reason: null, commit: tpl.commit,
          artifactSha256: tpl.artifactSha256, initrdSha256: tpl.initrdSha256, manifest: tpl.manifest, buildManifest: tpl.buildManifest,
          configCipher: tpl.configCipher,
        }, now);
        await store.updateApp(name(i), { liveVersion: 1, desiredCount: 0 });
      }
    } finally {
      await store.close();
    }
    const copyMs = performance.now() - t1;

    // Summon on 1,000 idle apps, and the peer with none, side by side.
    const emptyDir = path.join(root, 'empty');
    let empty = await startSummonChild({ dataDir: emptyDir });
    s = await startSummonChild({ dataDir }, 60_000);
    let base: Idle;
    let loaded: Idle;
    const woken: { app: string; status: number; ms: number }[] = [];
    try {
      const apps = await s.client.apps();
      const idle = apps.filter((a) => a.liveVersion === 1 && a.desiredCount === 0 && a.instances.total === 0).length;
      if (idle !== APPS) throw new Error(`expected ${APPS} idle apps with a live release, found ${idle}`);
      [base, loaded] = await idleTogether([empty, s]);
      for (const i of [1, Math.floor(APPS / 2), APPS - 1]) {
        const t = performance.now();
        const r = await routerGet(s.routerPort, name(i), '/', 30_000);
        woken.push({ app: name(i), status: r.status, ms: round(performance.now() - t) });
      }
    } finally {
      await s.stop();
      await empty.stop();
    }

    // The dashboard's series recorder samples every 5 s and keeps an hour. Sample 50× faster
    // in both Summons and fit the heap after GC against the number of samples taken.
    const FAST_MS = 100;
    const FAST_SECONDS = 14;
    empty = await startSummonChild({ dataDir: emptyDir, seriesIntervalMs: FAST_MS });
    s = await startSummonChild({ dataDir, seriesIntervalMs: FAST_MS }, 60_000);
    let series;
    try {
      await sleep(SETTLE_MS);
      const [g0, g1] = await Promise.all([seriesGrowth(empty, FAST_MS, FAST_SECONDS), seriesGrowth(s, FAST_MS, FAST_SECONDS)]);
      const points = (FAST_SECONDS * 1000) / FAST_MS;
      const hourKiB = (g: { perSampleBytes: number }) => round((g.perSampleBytes * 720) / 1024);
      series = {
        intervalMs: FAST_MS, seconds: FAST_SECONDS, samples: points,
        peer: { ...g0, perSampleBytes: round(g0.perSampleBytes), hourKiB: hourKiB(g0) },
        loaded: { ...g1, perSampleBytes: round(g1.perSampleBytes), hourKiB: hourKiB(g1) },
        addedHourKiB: round(hourKiB(g1) - hourKiB(g0)),
        // Two standard errors of the difference of the two slopes, over an hour of samples.
        addedHourErrorKiB: round((2 * Math.hypot(g0.perSampleErrorBytes, g1.perSampleErrorBytes) * 720) / 1024),
        noiseKiB: round(Math.max(g0.noiseKiB, g1.noiseKiB)),
      };
    } finally {
      await s.stop();
      await empty.stop();
    }

    const heapAdded = median(loaded.heapMiB) - median(base.heapMiB);
    // The spread of each median's samples: a difference smaller than this is not a difference.
    const heapNoise = Math.max(...[loaded.heapMiB, base.heapMiB].map((xs) => Math.max(...xs) - Math.min(...xs)));
    const within = (v: number, noise: number) => (Math.abs(v) <= noise ? ', within the noise' : '');
    const rssAdded = median(loaded.rssMiB) - median(base.rssMiB);
    const cpuAdded = round(loaded.cpuPercent - base.cpuPercent, 2);
    // Two standard errors of the mean of the per-window differences.
    const diffs = loaded.cpuWindows.map((c, i) => c - (base.cpuWindows[i] ?? 0));
    const dm = diffs.reduce((a, b) => a + b, 0) / Math.max(1, diffs.length);
    const cpuNoise = round(2 * Math.sqrt(diffs.reduce((a, d) => a + (d - dm) ** 2, 0) / Math.max(1, diffs.length - 1) / Math.max(1, diffs.length)), 2);
    process.stdout.write(`${table([
      ['summon process', 'heap after GC MiB (median, range)', 'RSS after GC MiB', 'lowest RSS, no forced GC', `CPU % of a core over the same ${IDLE_SECONDS}s`],
      ['no apps (peer)', spread(base.heapMiB), spread(base.rssMiB), round(base.rssNoGcLowMiB), base.cpuPercent],
      [`${APPS} idle apps`, spread(loaded.heapMiB), spread(loaded.rssMiB), round(loaded.rssNoGcLowMiB), loaded.cpuPercent],
    ])}\n\n`);
    process.stdout.write([
      `memory added by ${APPS} idle apps: heap after GC ${round(heapAdded, 2)} MiB ± ${round(heapNoise, 2)} (${round((heapAdded * 1024) / APPS)} KiB per app${within(heapAdded, heapNoise)}); RSS after GC ${round(rssAdded)} MiB (goal < ${GOAL_RSS_MIB} MiB: ${rssAdded < GOAL_RSS_MIB ? 'met' : 'NOT met'}; RSS also holds pages V8 and malloc keep after a collection, so two processes differ by more than their live data)`,
      `idle CPU added by ${APPS} apps: ${cpuAdded} ± ${cpuNoise} points of a core${within(cpuAdded, cpuNoise)} (${loaded.cpuPercent}% vs ${base.cpuPercent}% with none, same ${IDLE_SECONDS} s window, ${diffs.length} sub-windows; goal < ${GOAL_CPU_POINTS}: ${cpuAdded < GOAL_CPU_POINTS ? 'met' : 'NOT met'})`,
      `made in: ${round(createMs / 1000)} s for ${APPS - 1} POST /api/apps (8 at a time), ${round(copyMs / 1000)} s to copy the release into the store`,
      `series recorder, ${series.samples} samples at ${FAST_MS} ms, heap after GC fitted per sample: ${APPS} idle apps ${series.loaded.perSampleBytes} B/sample, peer ${series.peer.perSampleBytes} B/sample (residual noise ±${series.noiseKiB} KiB) → an hour of samples (720) adds ${series.addedHourKiB} ± ${series.addedHourErrorKiB} KiB beyond the peer's${within(series.addedHourKiB, series.addedHourErrorKiB)}`,
      `woken after the measurement: ${woken.map((w) => `${w.app} ${w.status} in ${w.ms} ms`).join(', ')}`,
    ].join('\n') + '\n');
    const file = writeResult('idle-density', {
      settings: {
        apps: APPS, idleSeconds: IDLE_SECONDS, settleMs: SETTLE_MS,
        method: '1 app pushed for real (hello-node, min 0) and idled to zero; 999 created via POST /api/apps; with Summon stopped, each given a copy of the pushed release through the Store interface (live, desiredCount 0); Summon restarted on that data. Peer: a fresh Summon with no apps, run at the same time. Memory read by each child after two forced full GCs, 5 times.',
      },
      peer: { name: 'the same Summon with no apps, same window', ...base },
      loaded,
      afterCreatingViaApiRssKiB: afterCreateRss,
      createViaApiMs: round(createMs), copyReleasesMs: round(copyMs),
      woken,
      seriesRecorder: series,
      headline: {
        metric: `memory and idle CPU added by ${APPS} idle apps`, heapAddedMiB: round(heapAdded), rssAddedMiB: round(rssAdded), goalMiB: GOAL_RSS_MIB, goalMet: rssAdded < GOAL_RSS_MIB,
        idleCpuPercent: loaded.cpuPercent, idleCpuPercentNoApps: base.cpuPercent, idleCpuAddedPoints: cpuAdded, idleCpuAddedNoisePoints: cpuNoise, cpuGoalPoints: GOAL_CPU_POINTS, cpuGoalMet: cpuAdded < GOAL_CPU_POINTS,
        seriesHourAddedKiB: series.addedHourKiB, seriesHourAddedErrorKiB: series.addedHourErrorKiB, heapAddedNoiseMiB: round(heapNoise, 2),
      },
    });
    process.stdout.write(`wrote ${file}\n`);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
