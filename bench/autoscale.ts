// Autoscale reaction: a load step of concurrent CPU-bound requests (GET /cpu?ms=N from a
// separate process) hits an app running one instance; time from the step's first request to
// the first response through the router from a second instance (GET / names the instance
// that answered; this benchmark polls it every 20 ms).
//
// Summon with the autoscale windows `summon up` runs with (DEFAULT_AUTOSCALE), in its own
// process. CPU is sampled by the agent once a second.
//
//   npx tsc -p tsconfig.json && node dist/bench/autoscale.js
//
// Env: BENCH_TRIALS (short window, default 3), BENCH_TRIALS_DEFAULT (default 2).
// Writes bench/results/autoscale.json.
import { DEFAULT_AUTOSCALE } from '../src/control/controller.js';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import {
  deployHello, eventsOf, faster, median, round, routerGet, runBench, sleep, startCountingLoad, startSummonChild, summary, table,
  tempDir, until, writeResult, type RunningSummonProc,
} from './lib/platform.js';

const TRIALS = Number(process.env.BENCH_TRIALS ?? 3);
const APP = 'busy';
const GOAL_MS = 3000;
const CPU_MS = 50;
const RATE = 30; // req/s of 50 ms of CPU each: 1.5 cores' worth; one instance can do one core, so 2 are needed
const PEERS = [
  { name: 'Kubernetes HPA (default --horizontal-pod-autoscaler-sync-period 15 s)', ms: 15_000 },
  { name: 'Knative KPA panic window (default 6 s)', ms: 6_000 },
  { name: 'GCE managed instance group autoscaler (default 60 s initialization period)', ms: 60_000 },
];

interface Trial { config: string; secondServingMs: number; scaleOutDecisionMs: number | null; newHealthyMs: number | null; instancesSeen: number }

function instanceOf(body: string): string | null {
  return /\(instance ([^)]+)\)/.exec(body)?.[1] ?? null;
}

async function oneInstance(s: RunningSummonProc): Promise<string> {
  const list = await until('one healthy instance', async () => {
    const l = await s.client.instances(APP);
    return l.length === 1 && l[0].state === 'healthy' ? l : undefined;
  }, 60_000, 50);
  return list[0].id;
}

async function trial(s: RunningSummonProc, config: string, settleMs: number): Promise<Trial> {
  await oneInstance(s);
  await sleep(settleMs); // let the CPU samples of the previous trial leave the scale-out window
  const first = instanceOf((await routerGet(s.routerPort, APP, '/')).body);
  const load = startCountingLoad(s.routerPort, APP, { rate: RATE, max: RATE * 30, path: `/cpu?ms=${CPU_MS}`, concurrency: 32 });
  try {
    const seen = new Set([first]);
    let secondAt = 0;
    const deadline = Date.now() + 30_000;
    while (!secondAt) {
      const r = await routerGet(s.routerPort, APP, '/', 10_000).catch(() => null);
      const id = r && r.status === 200 ? instanceOf(r.body) : null;
      if (id && !seen.has(id)) {
        secondAt = Date.now();
        seen.add(id);
      } else if (Date.now() > deadline) throw new Error('no second instance served within 30 s');
      else await sleep(20);
    }
    const t0 = load.startedAt();
    if (t0 === null) throw new Error('the load generator never started');
    const evs = (await eventsOf(s.client, APP, 200)).filter((e) => e.at >= t0);
    const out = evs.find((e) => e.type === 'scale.out');
    const healthy = out ? evs.find((e) => e.type === 'instance.healthy' && e.at >= out.at) : undefined;
    return {
      config, secondServingMs: secondAt - t0,
      scaleOutDecisionMs: out ? out.at - t0 : null,
      newHealthyMs: healthy ? healthy.at - t0 : null,
      instancesSeen: seen.size,
    };
  } finally {
    await load.stop();
    await s.client.scale(APP, 1).catch(() => undefined);
  }
}

async function series(name: string, dir: string, autoscale: { outMs?: number }, n: number, root: string): Promise<Trial[]> {
  const s = await startSummonChild({ dataDir: path.join(root, dir), autoscale: { inMs: 60_000, ...autoscale } });
  try {
    await deployHello(s, APP);
    const out: Trial[] = [];
    for (let i = 0; i < n; i++) out.push(await trial(s, name, (autoscale.outMs ?? DEFAULT_AUTOSCALE.outMs) + 1500));
    return out;
  } finally {
    await s.stop();
  }
}

runBench('autoscale', async () => {
  const root = await tempDir('bench-autoscale');
  try {
    const short = await series(`defaults (outMs=${DEFAULT_AUTOSCALE.outMs})`, 'defaults', {}, TRIALS, root);
    const dflt: Trial[] = [];
    const cols = ['config', 'scaleOutDecisionMs', 'newHealthyMs', 'secondServingMs'] as const;
    process.stdout.write(`load step: ${RATE} req/s of GET /cpu?ms=${CPU_MS} (1 instance can serve ~${1000 / CPU_MS}/s); times from the step's first request\n`);
    process.stdout.write(`${table([[...cols], ...[...short, ...dflt].map((t) => cols.map((c) => t[c] ?? '-'))])}\n\n`);
    const h = summary(short.map((t) => t.secondServingMs));
    const d = dflt.length ? summary(dflt.map((t) => t.secondServingMs)) : null;
    const lines = [`load step → second instance serving: median ${h.median} ms with the defaults summon up runs with (goal ≤ ${GOAL_MS} ms: ${h.median <= GOAL_MS ? 'met' : 'NOT met'})${d ? `; ${d.median} ms with the defaults` : ''}`];
    for (const p of PEERS) lines.push(`vs ${p.name} (published, not measured here; that period alone): ${faster(p.ms, h.median)}`);
    process.stdout.write(lines.join('\n') + '\n');
    const file = writeResult('autoscale', {
      settings: {
        app: 'examples/hello-node, [scale] min 1, max 4, target_cpu 0.8', load: `${RATE} req/s GET /cpu?ms=${CPU_MS}, own process, 32 sockets`,
        summon: 'startSummon in its own process; autoscale windows as named per series; agent CPU sampling 1 s',
      },
      definition: 'secondServingMs = first response through the router naming a second instance id − the load step\'s first request',
      trials: [...short, ...dflt],
      shortWindow: h,
      defaults: d,
      headline: { metric: 'load step → second instance serving (median, summon up defaults)', valueMs: h.median, goalMs: GOAL_MS, goalMet: h.median <= GOAL_MS, defaultsMedianMs: d?.median ?? null },
      peers: PEERS.map((p) => ({ ...p, measured: false, ratio: round(p.ms / h.median, 1) })),
      medianScaleOutDecisionMs: median(short.flatMap((t) => (t.scaleOutDecisionMs === null ? [] : [t.scaleOutDecisionMs]))),
    });
    process.stdout.write(`wrote ${file}\n`);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
