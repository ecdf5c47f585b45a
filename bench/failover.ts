// Leader failover of the control plane: two `summon up` nodes on one PostgreSQL (the test
// harness's throwaway server), an app with two instances, a load generator through the
// follower's data plane. Each round SIGKILLs the leader and measures, from the kill:
//  - lease taken: the other node holds the lease (read from PostgreSQL every 10 ms);
//  - leading: the new leader's API answers `summon ps` with every instance healthy;
// then starts the killed node again (it follows), and the next round kills the new leader.
// Printed against two peers from the same run:
//  - the lease's own timing (3 s, renewed every 1 s): failover can be no faster than what is
//    left of the lease at the kill, no slower than that plus one renewal interval;
//  - a single-node restart: SIGKILL of a lone `summon up` (SQLite) → a new one started on the
//    same data directory answers `summon ps` with its instances healthy (what a supervisor
//    restarting the one control plane gets).
//
//   npx tsc -p tsconfig.json && node dist/bench/failover.js
//
// Env: BENCH_ROUNDS (default 3), BENCH_RATE (requests/s, default 50).
// Writes bench/results/failover.json.
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { cli, cliJson, editFile, exampleRepo, push, startSummonProcess, type SummonProcess } from '../test/e2e/harness.js';
import { startTestPostgres } from '../src/store/pg-harness.js';
import { DEFAULT_LEASE } from '../src/cluster/lease.js';
import { failures, round, runBench, startLoad, summary, table, tempDir, until, writeResult } from './lib/platform.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const RATE = Number(process.env.BENCH_RATE ?? 50);
const APP = 'steady';

async function healthy(s: SummonProcess, n: number): Promise<void> {
  await until(`${n} healthy instances`, async () => {
    const list = (await cliJson(s, 'ps', '-a', APP, '--json').catch(() => [])) as { state: string }[];
    return list.length === n && list.every((i) => i.state === 'healthy');
  }, 120_000, 20);
}

const repo = () => exampleRepo('hello-node', (d) => editFile(d, 'summon.toml', (x) => x.replace('interval = "1s"', 'interval = "250ms"').replace('min = 1', 'min = 2')));

async function clusterRounds(): Promise<{ rounds: { leaseTakenMs: number; leadingMs: number }[]; sent: number; failed: number }> {
  const pgs = await startTestPostgres();
  const root = await tempDir('bench-failover');
  process.env.SUMMON_MASTER_KEY = randomBytes(32).toString('hex');
  const db = new pg.Client({ connectionString: pgs.url });
  db.on('error', () => {});
  await db.connect();
  const nodes = new Map<string, SummonProcess>();
  const start = async (id: string) => {
    const s = await startSummonProcess(path.join(root, id, 'data'), ['--no-vm', '--store', pgs.url, '--node-id', id], path.join(root, id, 'config'));
    nodes.set(id, s);
    return s;
  };
  const holder = async () => (await db.query<{ holder: string; valid: boolean }>('select holder, expires_at > now() as valid from cluster_lease')).rows[0];
  try {
    await start('node-a');
    await start('node-b');
    const first = nodes.get('node-a')!;
    if ((await cli(first, 'apps:create', APP)).code !== 0) throw new Error('apps:create failed');
    const r = await push(first, await repo(), APP);
    if (r.code !== 0) throw new Error(`push failed: ${r.stderr}`);
    await healthy(first, 2);
    // The load goes through the follower's data plane; a round's killed leader becomes the
    // next round's follower, so the load moves to the node that will survive each kill.
    const rounds: { leaseTakenMs: number; leadingMs: number }[] = [];
    let sent = 0;
    let failed = 0;
    for (let i = 0; i < ROUNDS; i++) {
      const lead = (await holder()).holder;
      const follower = [...nodes.keys()].find((k) => k !== lead)!;
      const load = startLoad(nodes.get(follower)!, APP, { rate: RATE, max: 1_000_000, concurrency: 8 });
      await until('the load to run', async () => load.completed() >= RATE, 30_000, 20);
      const t0 = performance.now();
      await nodes.get(lead)!.kill9();
      nodes.delete(lead);
      await until('another node to take the lease', async () => {
        const h = await holder();
        return h.valid && h.holder === follower;
      }, 30_000, 10);
      const leaseTakenMs = performance.now() - t0;
      await healthy(nodes.get(follower)!, 2);
      rounds.push({ leaseTakenMs: round(leaseTakenMs, 0), leadingMs: round(performance.now() - t0, 0) });
      const mark = load.completed();
      await until('load after the failover', async () => load.completed() >= mark + RATE, 60_000, 20);
      const sum = await load.stop();
      sent += sum.sent;
      failed += failures(sum);
      await start(lead);
    }
    return { rounds, sent, failed };
  } finally {
    for (const s of nodes.values()) await s.stop();
    await db.end();
    await pgs.stop();
    await rm(root, { recursive: true, force: true });
  }
}

async function singleNodeRounds(): Promise<{ restartMs: number }[]> {
  const root = await tempDir('bench-failover-single');
  const data = path.join(root, 'data');
  const flags = ['--no-vm'];
  let s = await startSummonProcess(data, flags, undefined, { keepApps: true });
  try {
    if ((await cli(s, 'apps:create', APP)).code !== 0) throw new Error('apps:create failed');
    const r = await push(s, await repo(), APP);
    if (r.code !== 0) throw new Error(`push failed: ${r.stderr}`);
    await healthy(s, 2);
    const out: { restartMs: number }[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const t0 = performance.now();
      await s.kill9();
      s = await startSummonProcess(data, flags, undefined, { keepApps: true });
      await healthy(s, 2);
      out.push({ restartMs: round(performance.now() - t0, 0) });
    }
    return out;
  } finally {
    await s.stop();
    const last = await startSummonProcess(data, flags);
    await last.stop();
    await rm(root, { recursive: true, force: true });
  }
}

runBench('failover', async () => {
  const c = await clusterRounds();
  const single = await singleNodeRounds();
  const taken = summary(c.rounds.map((x) => x.leaseTakenMs));
  const leading = summary(c.rounds.map((x) => x.leadingMs));
  const restart = summary(single.map((x) => x.restartMs));
  const rows: (string | number)[][] = [['round', 'SIGKILL → lease taken (ms)', 'SIGKILL → new leader serving ps, all healthy (ms)', 'single-node SIGKILL → restarted, all healthy (ms)']];
  c.rounds.forEach((x, k) => rows.push([k + 1, x.leaseTakenMs, x.leadingMs, single[k]?.restartMs ?? '']));
  process.stdout.write(`${table(rows)}\n`);
  const { ttlMs, renewMs } = DEFAULT_LEASE;
  const lines = [
    `leader failover (2 nodes, SIGKILL of the leader, ${ROUNDS} rounds): lease taken median ${taken.median} ms (${taken.min}–${taken.max}); ` +
      `new leader serving median ${leading.median} ms; ${c.failed} failed of ${c.sent} requests through the follower's data plane`,
    `peer, the lease's own timing: ttl ${ttlMs} ms, renewed every ${renewMs} ms → a failover takes ${ttlMs - renewMs}–${ttlMs + renewMs} ms: ` +
      `${round(taken.median / ttlMs, 2)}× the ttl`,
    `peer, single-node restart (SQLite, SIGKILL → a new summon up on the same data, all healthy), same run: median ${restart.median} ms → ` +
      `failover is ${round(leading.median / restart.median, 2)}× that`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
  const file = writeResult('failover', {
    settings: { rounds: ROUNDS, rateReqPerSec: RATE, lease: DEFAULT_LEASE, app: 'examples/hello-node, 2 instances, [health] every 250 ms', summon: '`summon up --no-vm --store postgres://… --node-id …` ×2 (bin/summon.js), the test harness\'s PostgreSQL 15' },
    definition: 'lease taken = SIGKILL of the leader → the other node holds a valid lease row; new leader serving = SIGKILL → its API answers ps with every instance healthy; single-node restart = SIGKILL → a new summon up (SQLite) on the same data directory answers ps with every instance healthy',
    headline: { metric: 'SIGKILL of the leader → another node holds the lease (median ms)', value: taken.median, goal: '≤ 5000 ms' },
    cluster: c,
    peers: { lease: { ttlMs, renewMs }, singleNodeRestart: single },
  });
  process.stdout.write(`wrote ${file}\n`);
});
