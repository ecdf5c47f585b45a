// Crash recovery: SIGKILL an instance's process (process target) and time the kill to the
// replacement being healthy, from Summon's own events (instance.crashed, instance.healthy; the
// event timestamps and the kill share this machine's clock).
//
// Each measured kill hits a different instance, once: every one is a first crash, which the
// agent restarts at once. A second series kills one instance repeatedly to show the restart
// backoff (see core/backoff.ts).
//
//   npx tsc -p tsconfig.json && node dist/bench/crash-recovery.js
//
// A third series stops (SIGSTOP) an instance so it hangs: only health checks can find it.
//
// Env: BENCH_KILLS (default 10), BENCH_REPEAT_KILLS (default 3), BENCH_HUNG (default 2).
// Writes bench/results/crash-recovery.json.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Instance } from '../src/sdk/client.js';
import {
  deployHello, eventsOf, round, runBench, sleep, startSummonChild, summary, table, tempDir, until, writeResult, type RunningSummonProc,
} from './lib/platform.js';

const KILLS = Number(process.env.BENCH_KILLS ?? 10);
const REPEAT = Number(process.env.BENCH_REPEAT_KILLS ?? 3);
const HUNG = Number(process.env.BENCH_HUNG ?? 2);
const APP = 'crashy';
// Published defaults, not measured here.
const PEERS = [
  { name: 'Kubernetes liveness probe defaults (periodSeconds 10 × failureThreshold 3)', ms: 30_000 },
  { name: 'GCE managed instance group health check defaults (checkIntervalSec 5 × unhealthyThreshold 2)', ms: 10_000 },
];

interface Kill { instance: string; killAt: number; crashedMs: number; healthyMs: number; bootMs: number | null; restartDelayMs: number | null }

async function killAndTime(s: RunningSummonProc, victim: Instance, signal: NodeJS.Signals = 'SIGKILL'): Promise<Kill> {
  const killAt = Date.now();
  process.kill(victim.pid!, signal);
  const healthy = await until(`${victim.id} healthy again`, async () => {
    const evs = await eventsOf(s.client, APP, 200);
    const crashed = evs.find((e) => e.type === 'instance.crashed' && e.data.instance === victim.id && e.at >= killAt - 5);
    const ok = crashed && evs.find((e) => e.type === 'instance.healthy' && e.data.instance === victim.id && e.at >= crashed.at);
    return ok ? { crashed, ok } : undefined;
  }, 60_000, 20);
  return {
    instance: victim.id, killAt,
    crashedMs: healthy.crashed.at - killAt,
    healthyMs: healthy.ok.at - killAt,
    bootMs: typeof healthy.ok.data.bootMs === 'number' ? healthy.ok.data.bootMs : null,
    restartDelayMs: typeof healthy.crashed.data.delayMs === 'number' ? healthy.crashed.data.delayMs : null,
  };
}

async function allHealthy(s: RunningSummonProc, n: number): Promise<Instance[]> {
  return until(`${n} healthy instances`, async () => {
    const list = await s.client.instances(APP);
    return list.length === n && list.every((i) => i.state === 'healthy' && i.pid) ? list : undefined;
  }, 60_000, 50);
}

runBench('crash-recovery', async () => {
  const root = await tempDir('bench-crash');
  const s = await startSummonChild({ dataDir: path.join(root, 'data') });
  try {
    await deployHello(s, APP, (t) => t.replace('max = 4', `max = ${KILLS}`));
    await s.client.scale(APP, KILLS);
    let list = await allHealthy(s, KILLS);
    const ids = list.map((i) => i.id);
    const first: Kill[] = [];
    for (const id of ids) {
      const victim = list.find((i) => i.id === id)!;
      first.push(await killAndTime(s, victim));
      list = await allHealthy(s, KILLS);
      await sleep(200);
    }
    // Repeated kills of one instance: the restart counter grows, so does the delay.
    const repeated: Kill[] = [];
    for (let k = 0; k < REPEAT; k++) {
      const victim = list.find((i) => i.id === ids[0])!;
      repeated.push(await killAndTime(s, victim));
      list = await allHealthy(s, KILLS);
      await sleep(200);
    }

    // A hung instance (SIGSTOP): the process is alive but answers nothing, so only the health
    // checks can find it. This is the case the liveness-probe defaults below are about.
    const hung: Kill[] = [];
    for (let k = 0; k < HUNG; k++) {
      const victim = list.find((i) => i.id === ids[k + 1])!;
      hung.push(await killAndTime(s, victim, 'SIGSTOP'));
      list = await allHealthy(s, KILLS);
    }

    const h = summary(first.map((k) => k.healthyMs));
    const hh = summary(hung.map((k) => k.healthyMs));
    const cols: (keyof Kill)[] = ['instance', 'crashedMs', 'restartDelayMs', 'bootMs', 'healthyMs'];
    const row = (k: Kill) => cols.map((c) => (k[c] === null ? '-' : k[c] as string | number));
    process.stdout.write(`first kill of each instance (SIGKILL → replacement healthy)\n${table([cols, ...first.map(row)])}\n\n`);
    process.stdout.write(`repeated kills of ${ids[0]} (restart counter 2..${REPEAT + 1})\n${table([cols, ...repeated.map(row)])}\n\n`);
    process.stdout.write(`hung instances (SIGSTOP → detected by [health] checks → replacement healthy)\n${table([cols, ...hung.map(row)])}\n\n`);
    const lines = [`kill → replacement healthy: median ${h.median} ms, min ${h.min}, max ${h.max} (n=${h.n})`];
    lines.push(`hung (SIGSTOP) → replacement healthy: median ${hh.median} ms (n=${hh.n}; [health] interval 1s, timeout 1s, unhealthy_threshold 3)`);
    for (const p of PEERS) lines.push(`vs ${p.name}: ${p.ms / 1000} s detection alone (published default, not measured here) → killed: ${round(p.ms / h.median, 0)}× faster, hung: ${round(p.ms / hh.median, 1)}× faster`);
    process.stdout.write(lines.join('\n') + '\n');
    const file = writeResult('crash-recovery', {
      settings: { instances: KILLS, app: 'examples/hello-node, [health] GET /healthy every 1s (500 ms-scale boot of a Node process)', summon: 'startSummon in its own process, process runtime' },
      definition: 'healthyMs = instance.healthy event time (same instance id, after its instance.crashed) − time of the SIGKILL',
      firstKills: first,
      repeatedKills: repeated,
      hungInstances: hung,
      hungHealthyMs: hh,
      headline: { metric: 'SIGKILL → replacement healthy (median, first crash of each instance)', valueMs: h.median },
      healthyMs: h,
      crashDetectedMs: summary(first.map((k) => k.crashedMs)),
      peers: PEERS.map((p) => ({ ...p, measured: false, kind: 'published default, detection time only (a hung instance; Kubernetes restarts an exited container without waiting for probes)', ratioKilled: round(p.ms / h.median, 1), ratioHung: round(p.ms / hh.median, 1) })),
    });
    process.stdout.write(`wrote ${file}\n`);
  } finally {
    await s.stop();
    await rm(root, { recursive: true, force: true });
  }
});
