// Rolling deploys of 3 instances (max_surge 1, max_unavailable 0: 3 batches of one).
//
// 1. Duration, from the deploy.started event to the release.live event, against its lower
//    bound measured in the same run: per batch, the app's own start-to-ready (the stored
//    artifact spawned directly and polled every 1 ms until it answers) plus what the health
//    thresholds add ((healthy_threshold − 1) × the starting probe period), × 3 batches.
// 2. Failed requests per 100k during rollouts under load: a load generator in its own process
//    (dist/src/testing/load-gen.js without samples, keeping counts instead of a
//    sample per response) runs while rollouts follow one another, until it has sent
//    BENCH_REQUESTS or BENCH_LOAD_SECONDS have passed.
//
// The rollouts are config changes (`config:set`): each makes a new release that is rolled
// out exactly like a pushed one, without a build in between.
//
//   npx tsc -p tsconfig.json && node dist/bench/rollout.js
//
// Env: BENCH_ROLLOUTS (unloaded, default 5), BENCH_REQUESTS (default 100000), BENCH_RATE
// (req/s, default 2500), BENCH_LOAD_SECONDS (default 45). Writes bench/results/rollout.json.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import {
  blobPath, deployHello, directStartToReady, eventsOf, loadFailures, round, runBench, sleep, startCountingLoad, startSummonChild, summary,
  table, tempDir, until, writeResult, type RunningSummonProc,
} from './lib/platform.js';

const ROLLOUTS = Number(process.env.BENCH_ROLLOUTS ?? 5);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 100_000);
const RATE = Number(process.env.BENCH_RATE ?? 2500);
const LOAD_SECONDS = Number(process.env.BENCH_LOAD_SECONDS ?? 45);
const DIRECT_SAMPLES = 10;
const APP = 'roll';
const INSTANCES = 3;
const START_PROBE_MS = 50; // agent.ts startProbeMs default: the probe period while starting

let seq = 0;
/** One rollout by config change; returns its duration from the events. */
async function rollout(s: RunningSummonProc): Promise<{ version: number; durationMs: number }> {
  seq += 1;
  const r = await s.client.setConfig(APP, { ROLLOUT: String(seq) });
  if (!r.ok) throw new Error(`config:set rollout failed: ${JSON.stringify(r)}`);
  const app = await s.client.app(APP);
  const v = app.liveVersion!;
  const evs = await eventsOf(s.client, APP, 500);
  const started = evs.filter((e) => e.type === 'deploy.started' && e.data.version === v).pop();
  const live = evs.filter((e) => e.type === 'release.live' && e.data.version === v).pop();
  if (!started || !live) throw new Error(`no deploy.started/release.live events for v${v}`);
  return { version: v, durationMs: live.at - started.at };
}

async function healthyN(s: RunningSummonProc): Promise<void> {
  await until(`${INSTANCES} healthy`, async () => {
    const list = await s.client.instances(APP);
    return list.length === INSTANCES && list.every((i) => i.state === 'healthy');
  }, 60_000, 50);
}

runBench('rollout', async () => {
  const root = await tempDir('bench-rollout');
  const dataDir = path.join(root, 'data');
  const s = await startSummonChild({ dataDir });
  try {
    await deployHello(s, APP);
    await s.client.scale(APP, INSTANCES);
    await healthyN(s);
    const rel = await s.client.release(APP, (await s.client.app(APP)).liveVersion!);
    const m = rel.manifest!;

    // The app's own start-to-ready, from the stored artifact.
    const artifact = blobPath(dataDir, rel.artifactSha256!);
    const direct: number[] = [];
    for (let i = 0; i < DIRECT_SAMPLES; i++) direct.push(await directStartToReady(artifact, m.run.args, m.health.path ?? '/'));
    const directMs = summary(direct);
    const thresholdMs = (m.health.healthyThreshold - 1) * Math.min(START_PROBE_MS, m.health.intervalMs);
    const batches = Math.ceil(INSTANCES / m.deploy.maxSurge);
    const lowerBoundMs = batches * (directMs.median + thresholdMs);

    // Unloaded rollouts.
    const unloaded: { version: number; durationMs: number }[] = [];
    for (let i = 0; i < ROLLOUTS; i++) {
      unloaded.push(await rollout(s));
      await healthyN(s);
    }
    const dur = summary(unloaded.map((r) => r.durationMs));

    // Rollouts under load.
    const load = startCountingLoad(s.routerPort, APP, { rate: RATE, max: REQUESTS, concurrency: 32 });
    await until('the load to start', async () => load.completed() >= 100, 10_000, 20);
    const loadStart = Date.now();
    const loaded: { version: number; durationMs: number }[] = [];
    let finished = false;
    void load.done.then(() => (finished = true), () => (finished = true));
    while (!finished && Date.now() - loadStart < LOAD_SECONDS * 1000) {
      loaded.push(await rollout(s));
      await sleep(100);
    }
    const sum = finished ? await load.done : await load.stop();
    const loadSeconds = (Date.now() - loadStart) / 1000;
    const completed = Object.values(sum.statuses).reduce((a, n) => a + n, 0) + Object.values(sum.errors).reduce((a, n) => a + n, 0);
    const failed = loadFailures(sum);
    const per100k = (failed / Math.max(1, completed)) * 100_000;
    const loadedDur = summary(loaded.map((r) => r.durationMs));

    process.stdout.write(`app's own start-to-ready (direct, n=${directMs.n}): median ${directMs.median} ms; health thresholds add ${thresholdMs} ms; ${batches} batches\n\n`);
    process.stdout.write(`${table([
      ['rollout of 3 instances', 'n', 'median ms', 'min ms', 'max ms'],
      ['unloaded', dur.n, dur.median, dur.min, dur.max],
      [`under load (${RATE} req/s)`, loadedDur.n, loadedDur.median, loadedDur.min, loadedDur.max],
      ['lower bound (3 × start-to-ready)', 1, round(lowerBoundMs), round(lowerBoundMs), round(lowerBoundMs)],
    ])}\n\n`);
    process.stdout.write([
      `rollout/lower bound: ${round(dur.median / lowerBoundMs, 2)}× (median ${dur.median} ms vs ${round(lowerBoundMs)} ms; platform adds ${round((dur.median - lowerBoundMs) / batches)} ms per batch)`,
      `under load: ${completed} requests in ${round(loadSeconds)} s across ${loaded.length} rollouts, ${failed} failed → ${round(per100k, 2)} per 100k (goal 0: ${failed === 0 ? 'met' : 'NOT met'})`,
      failed ? `  statuses ${JSON.stringify(sum.statuses)} errors ${JSON.stringify(sum.errors)}` : '',
    ].filter(Boolean).join('\n') + '\n');
    const file = writeResult('rollout', {
      settings: {
        instances: INSTANCES, maxSurge: m.deploy.maxSurge, maxUnavailable: m.deploy.maxUnavailable, healthyThreshold: m.health.healthyThreshold,
        app: 'examples/hello-node', trigger: 'config:set (new release, same rollout path as a push, no build)',
        load: { generator: 'dist/src/testing/load-gen.js (own process, keep-alive, 32 sockets)', rateReqPerSec: RATE, maxRequests: REQUESTS, maxSeconds: LOAD_SECONDS },
      },
      definition: 'durationMs = release.live event − deploy.started event; lowerBoundMs = batches × (direct start-to-ready median + (healthy_threshold − 1) × starting probe period)',
      directStartToReadyMs: { ...directMs, samples: direct.map((x) => round(x, 2)) },
      lowerBoundMs: round(lowerBoundMs),
      unloaded: { ...dur, runs: unloaded },
      underLoad: {
        rollouts: loaded.length, durationMs: loadedDur, runs: loaded, requests: completed, seconds: round(loadSeconds), failed,
        failuresPer100k: round(per100k, 3), statuses: sum.statuses, errors: sum.errors, releasesServed: sum.releases,
      },
      headline: {
        metric: 'rollout of 3 instances vs its lower bound (median)', valueMs: dur.median, peer: 'lower bound measured in this run',
        peerMs: round(lowerBoundMs), ratio: round(dur.median / lowerBoundMs, 2),
        failuresPer100k: round(per100k, 3), failuresGoal: 0, failuresGoalMet: failed === 0,
      },
    });
    process.stdout.write(`wrote ${file}\n`);
  } finally {
    await s.stop();
    await rm(root, { recursive: true, force: true });
  }
});
