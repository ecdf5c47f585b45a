// The cost of confinement: the same Summon twice in one run, one confining builds and
// instances (the default: the app's user, bubblewrap, seccomp, cgroups) and one started
// --unconfined (the peer), each with the same app. Measured alternately, so both see the same
// machine: a cold start (an app at zero woken by one request, time to its 200) and a push to
// live (the real git client, from the push to the new release's first 200).
//
//   npx tsc -p tsconfig.json && node dist/bench/confinement.js
//
// Env: BENCH_CYCLES (cold starts per mode, default 8), BENCH_PUSHES (per mode, default 4).
// Writes bench/results/confinement.json.
import path from 'node:path';
import {
  commitAll, deployHello, push, round, routerGet, runBench, sleep, startSummonChild, summary, table, tempDir, until, writeResult,
  type RunningSummonProc,
} from './lib/platform.js';
import { rm } from 'node:fs/promises';

const CYCLES = Number(process.env.BENCH_CYCLES ?? 8);
const PUSHES = Number(process.env.BENCH_PUSHES ?? 4);

interface Side { name: string; s: RunningSummonProc; repo: string; version: number; cold: number[]; p2l: number[] }

async function coldStart(side: Side): Promise<void> {
  await until('zero instances', async () => (await side.s.client.instances('cold')).length === 0 && (await side.s.client.app('cold')).desiredCount === 0, 30_000, 50);
  await sleep(100);
  const t0 = performance.now();
  const r = await routerGet(side.s.routerPort, 'cold', '/', 30_000);
  if (r.status !== 200) throw new Error(`${side.name}: cold request answered ${r.status}: ${r.body}`);
  side.cold.push(performance.now() - t0);
}

async function pushToLive(side: Side): Promise<void> {
  side.version += 1;
  await commitAll(side.repo, `v${side.version}`);
  const want = `hello-node v${side.version} `;
  const t0 = performance.now();
  const r = await push(side.s, side.repo, 'p2l');
  if (r.code !== 0) throw new Error(`${side.name}: push failed: ${r.stderr}`);
  await until('the new release serving', async () => (await routerGet(side.s.routerPort, 'p2l', '/', 5000)).body.includes(want), 60_000, 5);
  side.p2l.push(performance.now() - t0);
}

runBench('confinement', async () => {
  const root = await tempDir('bench-confine');
  const sides: Side[] = [];
  try {
    for (const [name, unconfined] of [['confined', false], ['unconfined', true]] as const) {
      const s = await startSummonChild({ dataDir: path.join(root, name), ...(unconfined ? { unconfined } : {}) });
      sides.push({ name, s, repo: '', version: 1, cold: [], p2l: [] });
      await deployHello(s, 'cold', (t) => t.replace(/\[scale\][\s\S]*$/, '[scale]\nmin = 0\nmax = 1\nidle_timeout = "1s"\n'));
      sides.at(-1)!.repo = await deployHello(s, 'p2l');
    }
    for (let i = 0; i < CYCLES; i++) for (const side of i % 2 ? [...sides].reverse() : sides) await coldStart(side);
    for (let i = 0; i < PUSHES; i++) for (const side of i % 2 ? [...sides].reverse() : sides) await pushToLive(side);
    const [c, u] = sides as [Side, Side];
    const rows: (string | number)[][] = [['', 'confined (ms)', 'unconfined (ms)', 'confined ÷ unconfined', 'added (ms)']];
    const result: Record<string, unknown> = {};
    for (const [label, key] of [['cold start', 'cold'], ['push to live', 'p2l']] as const) {
      const a = summary(c[key]);
      const b = summary(u[key]);
      rows.push([label, round(a.median), round(b.median), `${round(a.median / b.median, 2)}×`, round(a.median - b.median)]);
      result[key] = { confined: a, unconfined: b, ratio: round(a.median / b.median, 3), addedMs: round(a.median - b.median) };
    }
    console.log(table(rows));
    console.log(`peer: the same Summon started --unconfined, measured alternately in this run (${CYCLES} cold starts, ${PUSHES} pushes each)`);
    writeResult('confinement', { ...result, cycles: CYCLES, pushes: PUSHES, peer: 'summon up --unconfined, same run' });
  } finally {
    for (const side of sides) await side.s.stop();
    await rm(root, { recursive: true, force: true });
  }
});
