// Restart of `summon up` under load: a load generator (its own process, keep-alive) runs
// against an app with two instances while `summon up` is stopped (SIGTERM) and started again on
// the same data directory, BENCH_RESTARTS times. Printed for each way of stopping, measured in
// the same run:
//  - failed requests (non-2xx or connection errors) of all sent;
//  - control plane back: SIGTERM → the new `summon up` printed its URLs (API answering);
//  - apps serving again: SIGTERM → every instance of the app healthy again in `summon ps`.
// Summon's default (apps and data plane keep running, the next start adopts them) against the
// peer `--stop-apps-on-exit`, which stops every instance and the data plane as every stop did
// before (the old behaviour).
//
//   npx tsc -p tsconfig.json && node dist/bench/restart.js
//
// Env: BENCH_RESTARTS (default 3), BENCH_RATE (requests/s, default 200).
// Writes bench/results/restart.json.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { cli, cliJson, editFile, exampleRepo, push, startSummonProcess, type SummonProcess } from '../test/e2e/harness.js';
import { failures, round, runBench, startLoad, summary, table, tempDir, until, writeResult } from './lib/platform.js';

const RESTARTS = Number(process.env.BENCH_RESTARTS ?? 3);
const RATE = Number(process.env.BENCH_RATE ?? 200);
const APP = 'steady';

interface Mode { name: string; keepApps: boolean }
interface Restart { controlPlaneBackMs: number; servingAgainMs: number }
interface ModeResult { mode: string; sent: number; failed: number; statuses: Record<string, number>; errors: Record<string, number>; restarts: Restart[] }

async function healthy(s: SummonProcess, n: number): Promise<void> {
  await until(`${n} healthy instances`, async () => {
    const list = (await cliJson(s, 'ps', '-a', APP, '--json')) as { state: string }[];
    return list.length === n && list.every((i) => i.state === 'healthy');
  }, 60_000, 20);
}

async function measure(mode: Mode): Promise<ModeResult> {
  const root = await tempDir('bench-restart');
  const data = path.join(root, 'data');
  const flags = ['--no-vm'];
  let s = await startSummonProcess(data, flags, undefined, { keepApps: mode.keepApps });
  try {
    if ((await cli(s, 'apps:create', APP)).code !== 0) throw new Error('apps:create failed');
    const repo = await exampleRepo('hello-node', (d) => editFile(d, 'summon.toml', (x) => x.replace('interval = "1s"', 'interval = "250ms"').replace('min = 1', 'min = 2')));
    const r = await push(s, repo, APP);
    if (r.code !== 0) throw new Error(`push failed: ${r.stderr}`);
    await healthy(s, 2);
    const load = startLoad(s, APP, { rate: RATE, max: 1_000_000, concurrency: 16 });
    await until('the load to run', async () => load.completed() >= RATE, 30_000, 20);
    const restarts: Restart[] = [];
    for (let i = 0; i < RESTARTS; i++) {
      const t0 = performance.now();
      await s.stop();
      s = await startSummonProcess(data, flags, undefined, { keepApps: mode.keepApps });
      const back = performance.now() - t0;
      await healthy(s, 2);
      restarts.push({ controlPlaneBackMs: round(back, 0), servingAgainMs: round(performance.now() - t0, 0) });
      const mark = load.completed();
      await until('load after the restart', async () => load.completed() >= mark + RATE, 60_000, 20);
    }
    const sum = await load.stop();
    return { mode: mode.name, sent: sum.sent, failed: failures(sum), statuses: sum.statuses, errors: sum.errors, restarts };
  } finally {
    // Everything stops, whatever the mode: a last start with --stop-apps-on-exit adopts and stops it.
    await s.stop();
    const last = await startSummonProcess(data, flags);
    await last.stop();
    await rm(root, { recursive: true, force: true });
  }
}

runBench('restart', async () => {
  const modes: Mode[] = [
    { name: 'default (apps and data plane keep running, adopted by the next start)', keepApps: true },
    { name: '--stop-apps-on-exit (every instance and the router stop: the old behaviour)', keepApps: false },
  ];
  const results: ModeResult[] = [];
  for (const m of modes) results.push(await measure(m));
  const rows: (string | number)[][] = [['mode', 'sent', 'failed', 'control plane back (median ms)', 'apps serving again (median ms)']];
  for (const r of results) {
    rows.push([r.mode, r.sent, r.failed, summary(r.restarts.map((x) => x.controlPlaneBackMs)).median, summary(r.restarts.map((x) => x.servingAgainMs)).median]);
  }
  process.stdout.write(`${table(rows)}\n`);
  const [ours, peer] = results;
  const lines = [
    `restart of summon up under ${RATE} req/s, ${RESTARTS} restarts: ${ours.failed} failed of ${ours.sent} (default) vs ${peer.failed} failed of ${peer.sent} (--stop-apps-on-exit, same run)`,
    `control plane back after SIGTERM: median ${summary(ours.restarts.map((x) => x.controlPlaneBackMs)).median} ms (default) vs ${summary(peer.restarts.map((x) => x.controlPlaneBackMs)).median} ms`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
  const file = writeResult('restart', {
    settings: { restarts: RESTARTS, rateReqPerSec: RATE, app: 'examples/hello-node, 2 instances, [health] every 250 ms', summon: '`summon up --no-vm` (bin/summon.js), confined as in production' },
    definition: 'failed = non-2xx responses + connection errors seen by the load generator; control plane back = SIGTERM → the new summon up printed its URLs; apps serving again = SIGTERM → every instance healthy in `summon ps`',
    headline: { metric: 'failed requests across restarts of summon up under load (default)', value: ours.failed, sent: ours.sent },
    results,
    peer: { name: '--stop-apps-on-exit, same run', failed: peer.failed, sent: peer.sent },
  });
  process.stdout.write(`wrote ${file}\n`);
});
