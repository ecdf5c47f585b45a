// The cost of route changes on each data plane (router/dataplane.ts, as `summon up` runs it),
// both in the same run:
//   - cold start through the data plane: a request for an app at zero is held; the time from
//     the route that brings its instance (the instance already up: the app's own boot is not
//     in it) to the response. On HAProxy this is the hold in the Node holder, the route applied
//     to HAProxy (add server, enable server), the holder's 425 and HAProxy's retry on the new
//     server. Goal: ≤ 5 ms median beyond the app's own boot.
//   - route change: an app served by instance A is given instance B too; the time from that
//     route ("instance healthy") to the first request answered by B, sequential requests.
// Env: BENCH_ROUTE_ROUNDS (default 20).
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { runDataPlane, type RunningDataPlane } from '../src/router/dataplane.js';
import { median, round, runBench, table, writeResult } from './lib/platform.js';

const ROUNDS = Number(process.env.BENCH_ROUTE_ROUNDS ?? 20);

function backend(name: string): Promise<{ port: number; close(): void }> {
  const srv = http.createServer((_req, res) => res.end(name));
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve({ port: (srv.address() as { port: number }).port, close: () => srv.close() })));
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
function get(port: number, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, headers: { host }, agent }, (res) => {
      let b = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (b += c));
      res.on('end', () => resolve(`${res.statusCode} ${b}`));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The control protocol by hand: routes down, acks and wakes up. */
class Control {
  private seq = 0;
  private buf = '';
  private waiters: Array<{ match: (m: { t: string; [k: string]: unknown }) => boolean; resolve: () => void }> = [];
  constructor(private readonly s: Socket) {
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      this.buf += d;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const m = JSON.parse(this.buf.slice(0, nl)) as { t: string; [k: string]: unknown };
        this.buf = this.buf.slice(nl + 1);
        this.waiters = this.waiters.filter((w) => (w.match(m) ? (w.resolve(), false) : true));
      }
    });
  }
  static async open(socket: string): Promise<Control> {
    const s = connect(socket);
    await new Promise<void>((r) => s.once('connect', () => r()));
    const c = new Control(s);
    const hello = c.next((m) => m.t === 'hello');
    s.write(`${JSON.stringify({ t: 'hello' })}\n`);
    await hello;
    return c;
  }
  next(match: (m: { t: string; [k: string]: unknown }) => boolean): Promise<void> {
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }
  route(app: string, upstreams: { id: string; address: string; port: number }[]): Promise<void> {
    const seq = ++this.seq;
    const acked = this.next((m) => m.t === 'ack' && m.seq === seq);
    this.s.write(`${JSON.stringify({ t: 'route', seq, app, route: { kind: 'serving', upstreams } })}\n`);
    return acked;
  }
  close(): void {
    this.s.destroy();
  }
}

async function measure(kind: 'node' | 'haproxy', a: { port: number }, b: { port: number }) {
  const dir = mkdtempSync(path.join(os.tmpdir(), `summon-bench-routes-${kind}-`));
  let dp: RunningDataPlane | undefined;
  let c: Control | undefined;
  try {
    dp = await runDataPlane({ port: 0, host: '127.0.0.1', domains: ['localhost'], socket: path.join(dir, 'dataplane.sock'), version: 'bench', dataPlane: kind });
    c = await Control.open(path.join(dir, 'dataplane.sock'));
    const A = { id: 'a', address: '127.0.0.1', port: a.port };
    const B = { id: 'b', address: '127.0.0.1', port: b.port };
    const cold: number[] = [];
    const change: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const app = `cold${i}`;
      await c.route(app, []);
      const woken = c.next((m) => m.t === 'wake' && m.app === app);
      const reply = get(dp.port, `${app}.localhost`);
      await woken; // held
      const t0 = performance.now();
      await c.route(app, [A]);
      const r = await reply;
      if (!r.startsWith('200 A')) throw new Error(`${kind}: cold ${app} answered ${r}`);
      cold.push(performance.now() - t0);

      const app2 = `change${i}`;
      await c.route(app2, [A]);
      for (let k = 0; k < 3; k++) await get(dp.port, `${app2}.localhost`); // warm, on A
      const t1 = performance.now();
      await c.route(app2, [A, B]);
      for (let n = 0; ; n++) {
        if ((await get(dp.port, `${app2}.localhost`)) === '200 B') break;
        if (n > 1000) throw new Error(`${kind}: B never answered ${app2}`);
      }
      change.push(performance.now() - t1);
    }
    return { cold, change };
  } finally {
    c?.close();
    await dp?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

runBench('router-routes', async () => {
  const a = await backend('A');
  const b = await backend('B');
  try {
    const node = await measure('node', a, b);
    const haproxy = await measure('haproxy', a, b);
    const rows: (string | number)[][] = [['data plane', 'cold start overhead ms (median)', 'min', 'max', 'route change → first request on it ms (median)', 'min', 'max']];
    for (const [name, m] of [['haproxy', haproxy], ['node', node]] as const) {
      rows.push([name, median(m.cold), Math.min(...m.cold), Math.max(...m.cold), median(m.change), Math.min(...m.change), Math.max(...m.change)]);
    }
    process.stdout.write(`${ROUNDS} rounds each, the instance already up (its own boot not included)\n${table(rows)}\n`);
    process.stdout.write(`haproxy vs node: cold start overhead ${round(median(haproxy.cold) / median(node.cold), 2)}×, route change ${round(median(haproxy.change) / median(node.change), 2)}×; goal cold start ≤ 5 ms median: ${median(haproxy.cold) <= 5 ? 'met' : 'not met'} on haproxy\n`);
    const file = writeResult('router-routes', {
      rounds: ROUNDS,
      haproxy: { coldMs: { median: round(median(haproxy.cold), 2), runs: haproxy.cold.map((x) => round(x, 2)) }, routeChangeMs: { median: round(median(haproxy.change), 2), runs: haproxy.change.map((x) => round(x, 2)) } },
      node: { coldMs: { median: round(median(node.cold), 2), runs: node.cold.map((x) => round(x, 2)) }, routeChangeMs: { median: round(median(node.change), 2), runs: node.change.map((x) => round(x, 2)) } },
    });
    process.stdout.write(`wrote ${file}\n`);
  } finally {
    agent.destroy();
    a.close();
    b.close();
  }
});
