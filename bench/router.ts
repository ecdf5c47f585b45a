// Summon Router vs nginx as reverse proxies to the same backend, driven by wrk.
//
//   npx tsc -p tsconfig.json && node dist/bench/router.js
//
// Processes: backend (nginx, `return 200`, 1 worker), nginx proxy (1 worker, upstream
// keepalive), Summon's data plane twice (lib/dataplane-child.ts, as `summon up` runs it):
// HAProxy (1 thread, programmed over its admin socket) and the Node router; a Node byte pipe
// (lib/pipe-child.ts: the ceiling for any proxy written for Node), wrk. One worker/thread
// each: on this 2-core machine, shared with wrk and the backend, 1 measured better than 2. Each proxy gets a warm-up, then the same
// wrk run; rounds alternate between them so drift hits all alike.
// Env: BENCH_DURATION (s, default 5), BENCH_CONNECTIONS (default 32), BENCH_ROUNDS (default 2).
//
// Besides wrk's figures, each run reports the proxy's own CPU time per request (user +
// sys from /proc, in µs): on 2 shared cores throughput swings with whatever else runs,
// while CPU per request is what a proxy costs and moves far less between runs.
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Children, freePort, machine, parseWrk, run, waitForPort, type WrkResult } from './lib/proc.js';
import { median } from './lib/platform.js';

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/bench
const repo = path.resolve(here, '..', '..');
const DURATION = Number(process.env.BENCH_DURATION ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const HOST = 'bench.localhost';
const BODY = 'hello from the backend\n';

function nginxConf(dir: string, inner: string): string {
  return `worker_processes 1;
error_log ${dir}/error.log warn;
pid ${dir}/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 65s;
${inner}
}
`;
}

async function startNginx(kids: Children, base: string, name: string, inner: string, port: number) {
  const dir = path.join(base, name);
  mkdirSync(dir, { recursive: true });
  const conf = path.join(dir, 'nginx.conf');
  writeFileSync(conf, nginxConf(dir, inner));
  const child = kids.spawn('nginx', ['-p', dir, '-c', conf, '-g', 'daemon off;']);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  child.once('exit', (code) => {
    if (code) process.stderr.write(`nginx ${name} exited ${code}: ${stderr}\n`);
  });
  await waitForPort(port, `nginx ${name}`);
  return child;
}

type Run = WrkResult & { cpuUsPerReq: number };

/** CPU seconds (user + sys) a process has used so far. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
  return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in USER_HZ ticks
}

/** nginx does the work in its one worker, the child of the master we started. */
function nginxWorker(masterPid: number): number {
  const kids = readFileSync(`/proc/${masterPid}/task/${masterPid}/children`, 'utf8').trim().split(/\s+/);
  if (kids.length !== 1 || kids[0] === '') throw new Error(`nginx ${masterPid}: expected one worker, found ${JSON.stringify(kids)}`);
  return Number(kids[0]);
}

async function wrk(port: number, seconds: number, pid: number): Promise<Run> {
  const c0 = cpuSeconds(pid);
  const out = await run('wrk', ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', '-H', `Host: ${HOST}`, `http://127.0.0.1:${port}/`], (seconds + 30) * 1000);
  const r = parseWrk(out);
  const cpuUsPerReq = Number((((cpuSeconds(pid) - c0) * 1e6) / Math.max(1, r.requests)).toFixed(2));
  return { ...r, cpuUsPerReq };
}

function get(port: number): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', headers: { host: HOST }, agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      })
      .on('error', reject);
  });
}


async function main(): Promise<void> {
  const kids = new Children();
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'summon-bench-router-'));
  try {
    const backendPort = await freePort();
    const nginxPort = await freePort();
    const routerPort = await freePort();
    const haproxyPort = await freePort();
    const pipePort = await freePort();

    const backend = await startNginx(
      kids,
      tmp,
      'backend',
      `  server {
    listen 127.0.0.1:${backendPort};
    location / { default_type text/plain; return 200 "${BODY.trim()}\\n"; }
  }`,
      backendPort,
    );
    const proxy = await startNginx(
      kids,
      tmp,
      'proxy',
      `  upstream backend { server 127.0.0.1:${backendPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${nginxPort};
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
    }
  }`,
      nginxPort,
    );

    const startPlane = async (kind: 'node' | 'haproxy', port: number) => {
      const child = kids.spawn(process.execPath, [path.join(here, 'lib', 'dataplane-child.js'), kind, String(port), String(backendPort), 'bench']);
      let err = '';
      let out = '';
      child.stderr!.on('data', (d: Buffer) => (err += d));
      child.once('exit', (code) => {
        if (code) process.stderr.write(`${kind} data plane exited ${code}: ${err}\n`);
      });
      const line = await new Promise<string>((resolve, reject) => {
        child.stdout!.on('data', (d: Buffer) => {
          out += d;
          if (out.includes('\n')) resolve(out.split('\n')[0]);
        });
        child.once('exit', () => reject(new Error(`${kind} data plane exited before it listened: ${err}`)));
      });
      return { child, workerPid: (JSON.parse(line) as { workerPid: number }).workerPid };
    };
    const routerPlane = await startPlane('node', routerPort);
    const haproxyPlane = await startPlane('haproxy', haproxyPort);
    const pipeChild = kids.spawn(process.execPath, [path.join(here, 'lib', 'pipe-child.js'), String(pipePort), String(backendPort)]);
    await waitForPort(pipePort, 'node byte pipe');

    // Sanity: both proxies answer with the backend's body.
    for (const [name, port] of [['nginx', nginxPort], ['router', routerPort], ['haproxy data plane', haproxyPort], ['node byte pipe', pipePort]] as const) {
      const { status, text } = await get(port);
      if (status !== 200 || text !== BODY) throw new Error(`${name} answered ${status} ${JSON.stringify(text)}`);
    }

    process.stdout.write(`wrk -t1 -c${CONNECTIONS} -d${DURATION}s --latency, ${ROUNDS} round(s) each, warm-up 2s each\n`);
    const backendPid = nginxWorker(backend.pid!);
    const nginxPid = nginxWorker(proxy.pid!);
    const routerPid = routerPlane.workerPid;
    const haproxyPid = haproxyPlane.workerPid;
    const pipePid = pipeChild.pid!;
    const direct = await wrk(backendPort, 2, backendPid); // context: the backend without any proxy
    await wrk(nginxPort, 2, nginxPid);
    await wrk(routerPort, 2, routerPid);
    await wrk(haproxyPort, 2, haproxyPid);
    await wrk(pipePort, 2, pipePid);
    const runs: { nginx: Run[]; router: Run[]; haproxy: Run[]; pipe: Run[] } = { nginx: [], router: [], haproxy: [], pipe: [] };
    for (let i = 0; i < ROUNDS; i++) {
      runs.nginx.push(await wrk(nginxPort, DURATION, nginxPid));
      runs.haproxy.push(await wrk(haproxyPort, DURATION, haproxyPid));
      runs.router.push(await wrk(routerPort, DURATION, routerPid));
      runs.pipe.push(await wrk(pipePort, DURATION, pipePid));
    }

    const summary = (rs: Run[]) => ({
      requestsPerSec: median(rs.map((r) => r.requestsPerSec)),
      p50Ms: median(rs.map((r) => r.p50Ms)),
      p99Ms: median(rs.map((r) => r.p99Ms)),
      cpuUsPerReq: median(rs.map((r) => r.cpuUsPerReq)),
      errors: rs.reduce((a, r) => a + r.non2xx + r.socketErrors, 0),
    });
    const nginx = summary(runs.nginx);
    const router = summary(runs.router);
    const haproxy = summary(runs.haproxy);
    const pipe = summary(runs.pipe);
    const ratio = router.requestsPerSec / nginx.requestsPerSec;
    const haproxyRatio = haproxy.requestsPerSec / nginx.requestsPerSec;
    const pipeRatio = pipe.requestsPerSec / nginx.requestsPerSec;

    const row = (name: string, s: { requestsPerSec: number; p50Ms: number; p99Ms: number; cpuUsPerReq: number; errors: number }) =>
      `${name.padEnd(16)} ${s.requestsPerSec.toFixed(0).padStart(10)} ${s.p50Ms.toFixed(2).padStart(9)} ${s.p99Ms.toFixed(2).padStart(9)} ${s.cpuUsPerReq.toFixed(2).padStart(10)} ${String(s.errors).padStart(7)}`;
    const lines = [
      `${'proxy'.padEnd(16)} ${'req/s'.padStart(10)} ${'p50 ms'.padStart(9)} ${'p99 ms'.padStart(9)} ${'cpu µs/req'.padStart(10)} ${'errors'.padStart(7)}`,
      row('backend direct', { ...direct, errors: direct.non2xx + direct.socketErrors }),
      row('nginx', nginx),
      row('summon haproxy', haproxy),
      row('summon router', router),
      row('node byte pipe', pipe),
      '',
      `data plane haproxy/nginx throughput: ${haproxyRatio.toFixed(2)}×; proxy CPU per request: ${(haproxy.cpuUsPerReq / nginx.cpuUsPerReq).toFixed(2)}× nginx; p99 ${haproxy.p99Ms.toFixed(2)} ms vs nginx ${nginx.p99Ms.toFixed(2)} ms`,
      `data plane node (router)/nginx throughput: ${ratio.toFixed(2)}×; proxy CPU per request: router ${(router.cpuUsPerReq / nginx.cpuUsPerReq).toFixed(2)}× nginx; p99 ${router.p99Ms.toFixed(2)} ms vs nginx ${nginx.p99Ms.toFixed(2)} ms`,
      `ceiling for a proxy written for Node (a byte pipe, no HTTP): ${pipeRatio.toFixed(2)}× nginx's throughput, ${(pipe.cpuUsPerReq / nginx.cpuUsPerReq).toFixed(2)}× its CPU per request; the router reaches ${(router.requestsPerSec / pipe.requestsPerSec).toFixed(2)}× the pipe`,
      `each run (req/s, cpu µs/req): nginx ${runs.nginx.map((r) => `${r.requestsPerSec.toFixed(0)}/${r.cpuUsPerReq}`).join(' ')}; haproxy ${runs.haproxy.map((r) => `${r.requestsPerSec.toFixed(0)}/${r.cpuUsPerReq}`).join(' ')}; router ${runs.router.map((r) => `${r.requestsPerSec.toFixed(0)}/${r.cpuUsPerReq}`).join(' ')}; pipe ${runs.pipe.map((r) => `${r.requestsPerSec.toFixed(0)}/${r.cpuUsPerReq}`).join(' ')}`,
    ];
    process.stdout.write(lines.join('\n') + '\n');

    const nginxVersion = (await run('nginx', ['-v'])).trim().replace(/^nginx version:\s*/, '');
    const result = {
      benchmark: 'router',
      at: new Date().toISOString(),
      machine: { ...machine(), nginx: nginxVersion },
      settings: {
        wrk: `-t1 -c${CONNECTIONS} -d${DURATION}s --latency`,
        rounds: ROUNDS,
        backend: 'nginx return 200, 1 worker',
        nginxProxy: '1 worker, upstream keepalive 64',
        router: 'the Node data plane (dataplane.ts, one node process, keep-alive pool per upstream)',
        haproxy: 'the HAProxy data plane (dataplane.ts with HAProxy 2.6, nbthread 1, the instance a dynamic server with pool-max-conn -1)',
        workers: 'nginx 1 worker, HAProxy 1 thread, node 1 process: 1 measured better than 2 on this 2-core machine',
        pipe: 'one node process copying bytes between each client connection and its own upstream connection (no HTTP): the ceiling for a proxy written for Node',
        pinning: 'none: proxy, backend and wrk share the 2 cores alike for both proxies',
      },
      backendDirect: direct,
      nginx: { ...nginx, runs: runs.nginx },
      router: { ...router, runs: runs.router },
      haproxy: { ...haproxy, runs: runs.haproxy },
      nodeBytePipe: { ...pipe, runs: runs.pipe },
      ratio: {
        pipeThroughput: Number(pipeRatio.toFixed(3)),
        routerVsPipe: Number((router.requestsPerSec / pipe.requestsPerSec).toFixed(3)),
        throughput: Number(ratio.toFixed(3)),
        haproxyThroughput: Number(haproxyRatio.toFixed(3)),
        haproxyCpuPerRequest: Number((haproxy.cpuUsPerReq / nginx.cpuUsPerReq).toFixed(3)),
        p99HaproxyMs: haproxy.p99Ms,
        cpuPerRequest: Number((router.cpuUsPerReq / nginx.cpuUsPerReq).toFixed(3)),
        p99RouterMs: router.p99Ms,
        p99NginxMs: nginx.p99Ms,
      },
    };
    const outDir = path.join(repo, 'bench', 'results');
    mkdirSync(outDir, { recursive: true });
    writeFileSync(path.join(outDir, 'router.json'), JSON.stringify(result, null, 2) + '\n');
    process.stdout.write(`wrote ${path.relative(process.cwd(), path.join(outDir, 'router.json'))}\n`);
  } finally {
    await kids.stopAll();
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e: Error) => {
  process.stderr.write(`bench/router: ${e.stack ?? e.message}\n`);
  process.exitCode = 1;
});
