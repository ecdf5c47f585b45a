// Push to live: from the start of `git push` (the real git client) to the first 200 from the
// new release through the router, minus what the app's own commands took (the toolchain,
// build and test steps, read from the release's build manifest). What is left is the
// platform's overhead: receiving the push, checkout, storing the artifact, the release
// record and the rolling deploy (start, health check, route switch).
//
//   npx tsc -p tsconfig.json && node dist/bench/push-to-live.js
//
// Env: BENCH_PUSHES (default 5). Writes bench/results/push-to-live.json.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import {
  commitAll, deployHello, push, round, routerGet, runBench, sleep, startSummonChild, summary, table, tempDir, writeResult,
} from './lib/platform.js';

const PUSHES = Number(process.env.BENCH_PUSHES ?? 5);
const APP = 'p2l';
const GOAL_MS = 1000;
// Published, not measured here: a Heroku-style git push (slug compile + release + dyno boot)
// takes tens of seconds; 10 s is used as the low end of that range for the ratio.
const PEER = { name: 'Heroku-style git push deploy (published: tens of seconds; not measured here)', lowEndMs: 10_000 };

runBench('push-to-live', async () => {
  const root = await tempDir('bench-p2l');
  const s = await startSummonChild({ dataDir: path.join(root, 'data') });
  try {
    // v1: creates the app and its first instance (not counted: nothing to replace yet).
    const repo = await deployHello(s, APP);
    const runs: Record<string, number>[] = [];
    for (let i = 0; i < PUSHES; i++) {
      const version = i + 2;
      await commitAll(repo, `v${version}`);
      const want = `hello-node v${version} `;
      const t0 = Date.now();
      const pushing = push(s, repo, APP).then((r) => ({ ...r, at: Date.now() }));
      let liveAt = 0;
      let pushDone: Awaited<typeof pushing> | null = null;
      void pushing.then((r) => (pushDone = r));
      const deadline = t0 + 60_000;
      while (!liveAt) {
        const r = await routerGet(s.routerPort, APP, '/', 5000).catch(() => null);
        if (r && r.status === 200 && r.body.includes(want)) liveAt = Date.now();
        else if (Date.now() > deadline) throw new Error(`v${version} not served within 60 s`);
        else if (pushDone && (pushDone as { code: number }).code !== 0) throw new Error(`push failed: ${(pushDone as { stderr: string }).stderr}`);
        else await sleep(2);
      }
      const pushed = await pushing;
      if (pushed.code !== 0) throw new Error(`push v${version} failed: ${pushed.stderr}`);
      const rel = await s.client.release(APP, version);
      const bm = rel.buildManifest;
      if (!bm) throw new Error(`v${version} has no build manifest`);
      const step = (n: string) => bm.steps.filter((x) => x.name === n).reduce((a, x) => a + x.durationMs, 0);
      const appCommands = step('toolchain') + step('build') + step('test');
      const total = liveAt - t0;
      runs.push({
        version,
        totalMs: total,
        buildStepMs: step('build'),
        testStepMs: step('test'),
        toolchainStepMs: step('toolchain'),
        overheadMs: total - appCommands,
        overheadMinusBuildOnlyMs: total - step('build'),
        receiveMs: bm.startedAt - t0, // git client start → pipeline start (pack transfer, hook)
        pipelinePlatformMs: bm.finishedAt - bm.startedAt - appCommands, // checkout, lockfiles, store
        deployMs: liveAt - bm.finishedAt, // build finished → first 200 from the new release
        gitPushExitMs: pushed.at - t0,
      });
    }

    const cols = ['version', 'totalMs', 'toolchainStepMs', 'buildStepMs', 'testStepMs', 'overheadMs', 'receiveMs', 'pipelinePlatformMs', 'deployMs', 'gitPushExitMs'];
    const overhead = summary(runs.map((r) => r.overheadMs));
    const total = summary(runs.map((r) => r.totalMs));
    const ratio = PEER.lowEndMs / overhead.median;
    process.stdout.write(`${table([cols, ...runs.map((r) => cols.map((c) => r[c]))])}\n\n`);
    process.stdout.write([
      `push → first 200 from the new release: median ${total.median} ms (n=${total.n})`,
      `platform overhead (minus toolchain+build+test steps): median ${overhead.median} ms, min ${overhead.min}, max ${overhead.max} (goal ≤ ${GOAL_MS} ms: ${overhead.median <= GOAL_MS ? 'met' : 'NOT met'})`,
      `peer: ${PEER.name} → Summon's overhead is ≥ ${round(ratio, 0)}× smaller than its low end`,
    ].join('\n') + '\n');
    const file = writeResult('push-to-live', {
      settings: { pushes: PUSHES, app: 'examples/hello-node (build: node build.mjs, test: node test.mjs, toolchain: node --version)', instances: 1, summon: 'startSummon in its own process, process runtime, SQLite' },
      definition: 'overheadMs = (first 200 from vN through the router − git push start) − (toolchain + build + test step durations from buildManifest.steps)',
      runs,
      headline: { metric: 'platform overhead, push → live (median)', valueMs: overhead.median, goalMs: GOAL_MS, goalMet: overhead.median <= GOAL_MS },
      overheadMs: overhead,
      totalMs: total,
      peer: { ...PEER, measured: false, ratio: round(ratio, 1) },
    });
    process.stdout.write(`wrote ${file}\n`);
  } finally {
    await s.stop();
    await rm(root, { recursive: true, force: true });
  }
});
