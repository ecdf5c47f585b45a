// Runs Summon's data plane process code (router/dataplane.ts) for benchmarks, as `summon up`
// would, with one app routed to the backend:
//   node dist/bench/lib/dataplane-child.js KIND PORT BACKEND_PORT [APP] [HTTPS_PORT]
// KIND is node or haproxy. Prints {"port":N,"workerPid":N} once the route is acknowledged (the
// pid doing the proxying: this process, or HAProxy's worker); exits on SIGTERM.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { runDataPlane } from '../../src/router/dataplane.js';

const [kind, portArg, backendArg, app = 'bench'] = process.argv.slice(2);
if (kind !== 'node' && kind !== 'haproxy') throw new Error(`dataplane-child: KIND must be node or haproxy, got ${kind}`);
const dir = mkdtempSync(path.join(os.tmpdir(), 'summon-bench-dp-'));
const socket = path.join(dir, 'dataplane.sock');
const dp = await runDataPlane({ port: Number(portArg), host: '127.0.0.1', domains: ['localhost'], socket, version: 'bench', dataPlane: kind });
const c = connect(socket);
await new Promise<void>((resolve) => {
  let buf = '';
  c.setEncoding('utf8');
  c.on('data', (d: string) => {
    buf += d;
    if (buf.includes('"t":"ack"')) resolve();
  });
  c.write(`${JSON.stringify({ t: 'hello' })}\n`);
  c.write(`${JSON.stringify({ t: 'route', seq: 1, app, route: { kind: 'serving', upstreams: [{ id: 'backend', address: '127.0.0.1', port: Number(backendArg) }] } })}\n`);
});
let workerPid = process.pid;
if (dp.haproxy?.pid) {
  const master = dp.haproxy.pid;
  workerPid = Number(readFileSync(`/proc/${master}/task/${master}/children`, 'utf8').trim().split(/\s+/)[0]);
}
process.stdout.write(JSON.stringify({ port: dp.port, workerPid }) + '\n');
process.on('SIGTERM', () => {
  c.destroy();
  void dp.close().then(() => {
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  });
});
