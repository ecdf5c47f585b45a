import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { probeHttp, probeTcp } from './health-probe.js';
import { freePort } from './ports.js';

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as AddressInfo).port;
}

test('HTTP checks: 2xx/3xx healthy, other statuses answered but not healthy, with the request a server expects', async (t) => {
  const seen: http.IncomingHttpHeaders[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req.headers);
    const code = req.url === '/ok' ? 200 : req.url === '/moved' ? 302 : 503;
    res.writeHead(code, { 'content-type': 'text/plain' }).end('x'.repeat(100_000)); // a body the check never reads
  });
  const port = await listen(server);
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  assert.deepEqual(await probeHttp('127.0.0.1', port, '/ok', { timeoutMs: 1000 }), { ok: true, answered: true, refused: false, detail: 'GET /ok → 200' });
  assert.equal((await probeHttp('127.0.0.1', port, '/moved', { timeoutMs: 1000 })).ok, true);
  const bad = await probeHttp('127.0.0.1', port, '/sick', { timeoutMs: 1000 });
  assert.deepEqual([bad.ok, bad.answered, bad.detail], [false, true, 'GET /sick → 503']);
  assert.equal(seen[0].host, `127.0.0.1:${port}`);
  assert.equal(seen[0]['user-agent'], 'summon-health');
});

test('refused, silent, not HTTP, closed early, aborted: each says so', async (t) => {
  const closed = await freePort();
  const refused = await probeHttp('127.0.0.1', closed, '/', { timeoutMs: 1000 });
  assert.deepEqual([refused.ok, refused.answered, refused.refused], [false, false, true]);
  assert.match(refused.detail, /^GET \/: connect ECONNREFUSED/);
  assert.equal((await probeTcp('127.0.0.1', closed, { timeoutMs: 1000 })).refused, true);

  const sockets = new Set<net.Socket>();
  const track = (f: (s: net.Socket) => void) => (s: net.Socket) => {
    sockets.add(s);
    s.on('error', () => {});
    f(s);
  };
  const silent = net.createServer(track(() => {})); // accepts and never answers
  const silentPort = await listen(silent);
  const garbage = net.createServer(track((s) => s.end('SSH-2.0-OpenSSH\r\n')));
  const garbagePort = await listen(garbage);
  const hangup = net.createServer(track((s) => s.end()));
  const hangupPort = await listen(hangup);
  t.after(() => {
    for (const s of sockets) s.destroy();
    for (const srv of [silent, garbage, hangup]) srv.close();
  });
  const slow = await probeHttp('127.0.0.1', silentPort, '/', { timeoutMs: 100 });
  assert.deepEqual([slow.ok, slow.answered, slow.detail], [false, false, 'GET /: no answer within 100 ms']);
  assert.deepEqual(await probeTcp('127.0.0.1', silentPort, { timeoutMs: 100 }), { ok: true, answered: true, refused: false, detail: `TCP connect to ${silentPort} ok` });
  const notHttp = await probeHttp('127.0.0.1', garbagePort, '/', { timeoutMs: 1000 });
  assert.deepEqual([notHttp.ok, notHttp.answered], [false, true]);
  assert.match(notHttp.detail, /not HTTP\/1\.x/);
  const early = await probeHttp('127.0.0.1', hangupPort, '/', { timeoutMs: 1000 });
  assert.equal(early.detail, 'GET /: connection closed before an answer');

  const ac = new AbortController();
  const pending = probeHttp('127.0.0.1', silentPort, '/', { timeoutMs: 5000, signal: ac.signal });
  ac.abort();
  assert.equal((await pending).detail, 'GET /: aborted');
  assert.equal((await probeTcp('127.0.0.1', silentPort, { timeoutMs: 5000, signal: ac.signal })).detail, 'TCP connect: aborted');
});

test('a check this host cannot make for want of descriptors is marked local, not a failure of the instance (regression: EMFILE killed healthy instances)', async (t) => {
  const server = net.createServer((s) => s.end());
  const port = await listen(server);
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  // A process of its own with a small descriptor limit, every descriptor taken, then a check.
  const probeModule = new URL('./health-probe.js', import.meta.url).href;
  const script = `
    import { openSync } from 'node:fs';
    const { probeTcp } = await import(${JSON.stringify(probeModule)});
    try { for (;;) openSync('/dev/null', 'r'); } catch (e) { if (e.code !== 'EMFILE') throw e; }
    const r = await probeTcp('127.0.0.1', ${port}, { timeoutMs: 2000 });
    process.stdout.write(JSON.stringify(r));
    process.exit(0);`;
  const { execFile } = await import('node:child_process');
  const out = await new Promise<string>((resolve, reject) => execFile('prlimit', ['--nofile=64:64', process.execPath, '--input-type=module', '-e', script],
    { timeout: 20_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout))));
  const r = JSON.parse(out) as { ok: boolean; local?: boolean; detail: string };
  assert.equal(r.ok, false);
  assert.equal(r.local, true, r.detail);
  assert.match(r.detail, /EMFILE.*not counted against the instance/);
});
