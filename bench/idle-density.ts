// Idle density: what 1,000 deployed apps scaled to zero cost the Summon process in memory
// (VmRSS from /proc) and in CPU while nothing happens (utime+stime from /proc over 10 s).
//
// How the 1,000 apps are made (deploying each with git push would take far too long):
//   - one app is pushed for real (examples/hello-node, [scale] min = 0, idle_timeout 1s) and
//     left to idle down to zero instances;
//   - the other 999 are created through the API (POST /api/apps, as `summon apps:create`);
//   - Summon is stopped, and each of the 999 gets a copy of the pushed release (same artifact,
//     manifest, build manifest and config) written through the Store interface, live, with 0
//     instances wanted — what a deploy that then idled to zero leaves in the store;
//   - Summon is started again on that data: it loads 1,000 apps with live releases, all at zero.
// The peer is a fresh Summon with no apps, measured the same way in the same run. A few of the
// copied apps are then woken by a request to show they are real, servable apps. Last, the
// dashboard series recorder is run 50× faster for 12 s to estimate what an hour of its
// per-app points adds (it records idle apps too).
//
//   npx tsc -p tsconfig.json && node dist/bench/idle-density.js
//
// Env: BENCH_APPS (default 1000), BENCH_IDLE_SECONDS (default 10). Writes bench/results/idle-density.json.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { openStore } from '../src/store/open.js';
import {
  cpuTicks, deployHello, round, routerGet, rssKiB, runBench, sleep, startSummonChild, table, tempDir, TICKS_PER_SECOND, until, writeResult,
  type RunningSummonProc,
} from './lib/platform.js';

const APPS = Number(process.env.BENCH_APPS ?? 1000);
const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 10);
// Both processes are measured once V8 has collected the garbage of start-up (its memory
// reducer runs some seconds after allocation stops: ~7 s for an empty Summon, later with
// 1,000 apps); with a 3 s settle the figure swung between 11 and 50 MiB from run to run.
const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? 25_000);
const GOAL_RSS_MIB = 50;
const name = (i: number) => `app-${String(i).padStart(4, '0')}`;

/** RSS is sampled every second of the idle window and the lowest kept. */
async function idleFigures(s: RunningSummonProc): Promise<{ rssKiB: number; rssLastKiB: number; cpuPercent: number; cpuSeconds: number }> {
  await sleep(SETTLE_MS);
  const t0 = cpuTicks(s.pid);
  const w0 = performance.now();
  let low = Infinity;
  for (let i = 0; i < IDLE_SECONDS; i++) {
    await sleep(1000);
    low = Math.min(low, rssKiB(s.pid));
    if (process.env.BENCH_VERBOSE) console.log(`rss ${i}: ${(rssKiB(s.pid) / 1024).toFixed(1)} MiB`);
  }
  const cpuSeconds = (cpuTicks(s.pid) - t0) / TICKS_PER_SECOND;
  const wall = (performance.now() - w0) / 1000;
  return { rssKiB: low, rssLastKiB: rssKiB(s.pid), cpuPercent: round((cpuSeconds / wall) * 100, 2), cpuSeconds };
}

runBench('idle-density', async () => {
  const root = await tempDir('bench-density');
  try {
    // The peer: Summon with no apps.
    const empty = await startSummonChild({ dataDir: path.join(root, 'empty') });
    let base;
    try {
      base = await idleFigures(empty);
    } finally {
      await empty.stop();
    }

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

    // Summon on 1,000 idle apps.
    s = await startSummonChild({ dataDir }, 60_000);
    let loaded;
    const woken: { app: string; status: number; ms: number }[] = [];
    try {
      const apps = await s.client.apps();
      const idle = apps.filter((a) => a.liveVersion === 1 && a.desiredCount === 0 && a.instances.total === 0).length;
      if (idle !== APPS) throw new Error(`expected ${APPS} idle apps with a live release, found ${idle}`);
      loaded = await idleFigures(s);
      for (const i of [1, Math.floor(APPS / 2), APPS - 1]) {
        const t = performance.now();
        const r = await routerGet(s.routerPort, name(i), '/', 30_000);
        woken.push({ app: name(i), status: r.status, ms: round(performance.now() - t) });
      }
    } finally {
      await s.stop();
    }

    // The dashboard's series recorder keeps one point per routed app every 5 s for an hour,
    // idle or not. Sample it 50× faster for a while to see what the hour's points will cost.
    const FAST_MS = 100;
    const FAST_SECONDS = 12;
    s = await startSummonChild({ dataDir, seriesIntervalMs: FAST_MS }, 60_000);
    let series;
    try {
      await sleep(SETTLE_MS);
      const r0 = rssKiB(s.pid);
      await sleep(FAST_SECONDS * 1000);
      const r1 = rssKiB(s.pid);
      const points = (FAST_SECONDS * 1000) / FAST_MS;
      const perPointPerAppBytes = ((r1 - r0) * 1024) / points / APPS;
      series = {
        intervalMs: FAST_MS, seconds: FAST_SECONDS, pointsPerApp: points, rssBeforeKiB: r0, rssAfterKiB: r1,
        bytesPerPointPerApp: round(perPointPerAppBytes), projectedHourMiB: round((perPointPerAppBytes * 720 * APPS) / 2 ** 20),
      };
    } finally {
      await s.stop();
    }

    const addedMiB = (loaded.rssKiB - base.rssKiB) / 1024;
    const perAppKiB = (loaded.rssKiB - base.rssKiB) / APPS;
    process.stdout.write(`${table([
      ['summon process', 'RSS MiB', `CPU % of a core over ${IDLE_SECONDS}s idle`],
      ['no apps (peer)', round(base.rssKiB / 1024), base.cpuPercent],
      [`${APPS} idle apps`, round(loaded.rssKiB / 1024), loaded.cpuPercent],
    ])}\n\n`);
    process.stdout.write([
      `RSS added by ${APPS} idle apps: ${round(addedMiB)} MiB (${round(perAppKiB)} KiB per app; goal < ${GOAL_RSS_MIB} MiB: ${addedMiB < GOAL_RSS_MIB ? 'met' : 'NOT met'})`,
      `idle CPU: ${loaded.cpuPercent}% of a core with ${APPS} apps vs ${base.cpuPercent}% with none (goal ~0)`,
      `made in: ${round(createMs / 1000)} s for ${APPS - 1} POST /api/apps (8 at a time), ${round(copyMs / 1000)} s to copy the release into the store`,
      `series recorder: +${round((series.rssAfterKiB - series.rssBeforeKiB) / 1024)} MiB RSS for ${series.pointsPerApp} points × ${APPS} apps (~${series.bytesPerPointPerApp} B each) → ~${series.projectedHourMiB} MiB more after an hour at the default 5 s (720 points per app, idle or not)`,
      `woken after the measurement: ${woken.map((w) => `${w.app} ${w.status} in ${w.ms} ms`).join(', ')}`,
    ].join('\n') + '\n');
    const file = writeResult('idle-density', {
      settings: {
        apps: APPS, idleSeconds: IDLE_SECONDS, settleMs: SETTLE_MS,
        method: '1 app pushed for real (hello-node, min 0) and idled to zero; 999 created via POST /api/apps; with Summon stopped, each given a copy of the pushed release through the Store interface (live, desiredCount 0); Summon restarted on that data. Peer: a fresh Summon with no apps.',
      },
      peer: { name: 'the same Summon with no apps, same run', rssKiB: base.rssKiB, cpuPercent: base.cpuPercent },
      loaded: { rssKiB: loaded.rssKiB, rssLastKiB: loaded.rssLastKiB, cpuPercent: loaded.cpuPercent },
      afterCreatingViaApiRssKiB: afterCreateRss,
      createViaApiMs: round(createMs), copyReleasesMs: round(copyMs),
      woken,
      seriesRecorder: series,
      headline: {
        metric: `RSS added by ${APPS} idle apps`, valueMiB: round(addedMiB), perAppKiB: round(perAppKiB), goalMiB: GOAL_RSS_MIB, goalMet: addedMiB < GOAL_RSS_MIB,
        idleCpuPercent: loaded.cpuPercent, idleCpuPercentNoApps: base.cpuPercent,
        projectedSeriesGrowthAfterOneHourMiB: series.projectedHourMiB,
      },
    });
    process.stdout.write(`wrote ${file}\n`);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
