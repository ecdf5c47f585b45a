// Cold start (summoning): an app with [scale] min = 0 and a short idle_timeout is scaled to
// zero; one request arrives; the router holds it and wakes the app; time to its 200. The
// headline is that time minus the same artifact's own start-to-ready, measured directly in
// the same run (spawned by this benchmark, polled every 1 ms until it answers): what the
// platform adds to a cold request.
//
//   npx tsc -p tsconfig.json && node dist/bench/cold-start.js
//
// Env: BENCH_CYCLES (default 10). Writes bench/results/cold-start.json.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import {
  blobPath, deployHello, directStartToReady, eventsOf, faster, median, round, routerGet, runBench, sleep, startSummonChild, summary, table,
  tempDir, until, writeResult,
} from './lib/platform.js';

const CYCLES = Number(process.env.BENCH_CYCLES ?? 10);
const APP = 'cold';
const GOAL_MS = 5;
const PEERS = [
  { name: 'Jitsu (NSDI 2015), unikernel summoned on DNS lookup, incl. boot', ms: 25, note: 'published 20–30 ms' },
  { name: 'Fly Machines start from stopped', ms: 300, note: 'published ~300 ms' },
  { name: 'Knative scale from zero', ms: 2000, note: 'published: seconds (2 s used for the ratio)' },
];

runBench('cold-start', async () => {
  const root = await tempDir('bench-cold');
  const dataDir = path.join(root, 'data');
  const s = await startSummonChild({ dataDir });
  try {
    await deployHello(s, APP, (t) => t.replace(/\[scale\][\s\S]*$/, '[scale]\nmin = 0\nmax = 1\nidle_timeout = "1s"\n'));
    const rel = await s.client.release(APP, 1);
    const m = rel.manifest!;
    if (m.scale.min !== 0) throw new Error(`the manifest did not take min = 0: ${JSON.stringify(m.scale)}`);
    const artifact = blobPath(dataDir, rel.artifactSha256!);

    const cycles: { coldMs: number; directMs: number; overheadMs: number; wakeToStartedMs: number | null; bootMs: number | null; healthyToResponseMs: number | null }[] = [];
    for (let i = 0; i < CYCLES; i++) {
      // The artifact's own start-to-ready, measured right before each cold request so both see
      // the same machine state.
      const directMs = await directStartToReady(artifact, m.run.args, m.health.path ?? '/');
      await until('zero instances', async () => (await s.client.instances(APP)).length === 0 && (await s.client.app(APP)).desiredCount === 0, 30_000, 50);
      await sleep(100);
      const t0 = performance.now();
      const sentAt = Date.now();
      const r = await routerGet(s.routerPort, APP, '/', 30_000);
      const coldMs = performance.now() - t0;
      const doneAt = Date.now();
      if (r.status !== 200) throw new Error(`cold request answered ${r.status}: ${r.body}`);
      const evs = (await eventsOf(s.client, APP, 100)).filter((e) => e.at >= sentAt - 2);
      const wake = evs.find((e) => e.type === 'app.wake');
      const started = evs.find((e) => e.type === 'instance.started');
      const healthy = evs.find((e) => e.type === 'instance.healthy');
      cycles.push({
        coldMs: round(coldMs, 2), directMs: round(directMs, 2), overheadMs: round(coldMs - directMs, 2),
        wakeToStartedMs: wake && started ? started.at - wake.at : null,
        bootMs: healthy && typeof healthy.data.bootMs === 'number' ? healthy.data.bootMs : null,
        healthyToResponseMs: healthy ? doneAt - healthy.at : null,
      });
    }

    const cold = summary(cycles.map((c) => c.coldMs));
    const direct = summary(cycles.map((c) => c.directMs));
    const overheadMedian = round(median(cycles.map((c) => c.overheadMs)), 2);
    const cols = ['coldMs', 'directMs', 'overheadMs', 'wakeToStartedMs', 'bootMs', 'healthyToResponseMs'] as const;
    process.stdout.write(`${table([['cycle', ...cols], ...cycles.map((c, i) => [i + 1, ...cols.map((k) => c[k] ?? '-')])])}\n\n`);
    const lines = [
      `cold request → 200: median ${cold.median} ms; the artifact's own start-to-ready: median ${direct.median} ms`,
      `platform overhead (median of per-cycle differences): ${overheadMedian} ms (goal ≤ ${GOAL_MS} ms: ${overheadMedian <= GOAL_MS ? 'met' : 'NOT met'})`,
    ];
    for (const p of PEERS) lines.push(`vs ${p.name} (${p.note}; not measured here): ${faster(p.ms, cold.median)} (cold request, median ${cold.median} ms)`);
    process.stdout.write(lines.join('\n') + '\n');
    const file = writeResult('cold-start', {
      settings: { cycles: CYCLES, app: 'examples/hello-node with [scale] min = 0, idle_timeout = 1s', healthCheck: `GET ${m.health.path}`, direct: 'the stored artifact spawned by the benchmark with the process runtime\'s argv/env, polled every 1 ms' },
      definition: 'overheadMs = (cold request sent while no instance runs → its 200, through the router) − (the same artifact\'s start → first 2xx, measured directly)',
      cycles,
      coldMs: cold,
      directMs: direct,
      headline: { metric: 'cold-start overhead (median)', valueMs: overheadMedian, goalMs: GOAL_MS, goalMet: overheadMedian <= GOAL_MS, coldMedianMs: cold.median },
      peers: PEERS.map((p) => ({ ...p, measured: false, ratio: round(p.ms / cold.median, 1) })),
    });
    process.stdout.write(`wrote ${file}\n`);
  } finally {
    await s.stop();
    await rm(root, { recursive: true, force: true });
  }
});
