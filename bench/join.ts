// Joining a host: the time from `summon agent --join` (the process spawned with the command
// `summon hosts:join-token` printed) to that host's first instance serving through the
// router: the token redeemed over pinned TLS, the link up, an instance placed there by a
// ps:scale issued as soon as `summon hosts` says it is connected, its artifact fetched over
// the link's HTTPS, started, healthy, and a request answered by it through the link.
//
// Peer, measured in the same run on the same control plane and app: the same ps:scale placed
// on the control plane's own host (no join, no link, no fetch): what an instance costs anyway.
//
//   npx tsc -p tsconfig.json && node dist/bench/join.js
//
// Env: BENCH_JOINS (default 3). Writes bench/results/join.json.
import { spawn, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { deployHello, round, routerGet, runBench, startSummonChild, summary, tempDir, until, writeResult, REPO_ROOT, type RunningSummonProc } from './lib/platform.js';

const JOINS = Number(process.env.BENCH_JOINS ?? 3);
const APP = 'joiner';
const BIN = path.join(REPO_ROOT, 'bin', 'summon.js');

async function servedBy(s: RunningSummonProc, id: string): Promise<void> {
  await until(`a request answered by ${id}`, async () => {
    const r = await routerGet(s.routerPort, APP, '/', 5000).catch(() => null);
    return r?.status === 200 && r.body.includes(id);
  }, 60_000, 5);
}

async function scaleAndServe(s: RunningSummonProc, count: number, host: (h: string) => boolean): Promise<string> {
  await s.client.scale(APP, count);
  const inst = await until(`an instance on the wanted host healthy`, async () => {
    const l = await s.client.instances(APP);
    return l.find((i) => host(i.host) && i.state === 'healthy');
  }, 60_000, 5);
  await servedBy(s, inst.id);
  return inst.host;
}

async function settle(s: RunningSummonProc, count: number): Promise<void> {
  await s.client.scale(APP, count);
  await until(`${count} instance(s)`, async () => {
    const l = await s.client.instances(APP);
    return l.length === count && l.every((i) => i.state === 'healthy');
  }, 60_000, 20);
}

runBench('join', async () => {
  const root = await tempDir('bench-join');
  const s = await startSummonChild({ dataDir: path.join(root, 'data') });
  const agents: ChildProcess[] = [];
  try {
    await deployHello(s, APP);
    const local = (await s.client.hosts()).find((h) => h.link === 'local')!.id;
    const joins: { totalMs: number; connectedMs: number }[] = [];
    const peers: number[] = [];
    for (let k = 0; k < JOINS; k++) {
      // The peer first: one more instance on the control plane's own host.
      await settle(s, 1);
      let t0 = Date.now();
      await scaleAndServe(s, 2, (h) => h === local);
      peers.push(Date.now() - t0);
      await settle(s, 1);

      const id = `bench${k}`;
      const tok = await s.client.createJoinToken({ url: s.apiUrl.replace(/^http:/, 'https:'), labels: { bench: String(k) } });
      t0 = Date.now();
      const agent = spawn(process.execPath, [BIN, 'agent', '--join', tok.url, '--token', tok.token, '--id', id, '--no-vm', '--data', path.join(root, id), '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
      agents.push(agent);
      let out = '';
      agent.stdout!.on('data', (c) => (out += c));
      agent.stderr!.on('data', (c) => (out += c));
      await until(`${id} connected (${out})`, async () => (await s.client.hosts()).some((h) => h.id === id && h.link === 'connected'), 30_000, 5);
      const connectedMs = Date.now() - t0;
      const where = await scaleAndServe(s, 2, (h) => h === id);
      if (where !== id) throw new Error(`the instance went to ${where}`);
      joins.push({ totalMs: Date.now() - t0, connectedMs });
      await s.client.removeHost(id);
      await new Promise((r) => agent.once('exit', r));
    }
    const j = summary(joins.map((x) => x.totalMs));
    const c = summary(joins.map((x) => x.connectedMs));
    const p = summary(peers);
    const lines = [
      `agent --join → the host's first instance serving: median ${j.median} ms (${j.min}–${j.max}, n=${j.n}); of it, agent --join → connected: ${c.median} ms`,
      `peer, same run: the same ps:scale placed on the control plane's own host → serving: median ${p.median} ms (${p.min}–${p.max})`,
      `ratio: ${round(j.median / p.median, 2)}× the peer (the join, the link and the artifact's fetch over it cost ${j.median - p.median} ms more)`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
    const file = writeResult('join', {
      settings: { joins: JOINS, app: 'examples/hello-node', summon: 'startSummon in its own process; agents as `summon agent --join` processes on the same machine (loopback)' },
      definition: 'totalMs = from spawning `summon agent --join URL --token JOIN` to the first 200 through the router that names an instance on that host (ps:scale to 2 issued when summon hosts shows it connected)',
      joins, headline: { metric: 'agent --join → first instance serving (median)', valueMs: j.median },
      joinMs: j, connectedMs: c,
      peers: [{ name: 'the same ps:scale placed on the control plane\'s own host, same run', measured: true, ms: p, ratio: round(j.median / p.median, 2) }],
    });
    process.stdout.write(`wrote ${file}\n`);
  } finally {
    for (const a of agents) if (a.exitCode === null && a.signalCode === null) a.kill('SIGTERM');
    await s.stop();
    await rm(root, { recursive: true, force: true });
  }
});
