// The HAProxy data plane against a real HAProxy started by the test: spare backends used up
// (a reload re-renders every server and map entry, and nothing is lost), a removed instance
// drained and deleted, a body bigger than HAProxy can replay proxied by the holder itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../logging/logger.js';
import { waitFor } from '../../testing/wait.js';
import { DataPlaneClient } from '../dataplane-client.js';
import { runDataPlane } from '../dataplane.js';
import { SocketRuntime } from './runtime.js';

function request(port: number, host: string, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: body ? 'POST' : 'GET', headers: { host }, agent: false }, (res) => {
      let b = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (b += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('spare backends run out: HAProxy reloads with every server kept; drains end in del server; big bodies go through the holder', async (t) => {
  if (spawnSync('haproxy', ['-v']).error) return t.skip('haproxy is not installed');
  const dir = await mkdtemp(join(tmpdir(), 'summon-haplane-'));
  const upstream = http.createServer((req, res) => {
    let n = 0;
    req.on('data', (c: Buffer) => (n += c.length));
    req.on('end', () => res.end(`${req.headers.host} ${n} ${req.headers['x-forwarded-for']}`));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  const port = (upstream.address() as { port: number }).port;
  const dp = await runDataPlane({ port: 0, host: '127.0.0.1', domains: ['localhost'], socket: join(dir, 'dataplane.sock'), version: 'test', dataPlane: 'haproxy', haproxySpares: 1 });

  const cp = await DataPlaneClient.open({
    dataDir: dir, port: 0, host: '127.0.0.1', domains: ['localhost'], version: 'test', dataPlane: 'haproxy', haproxySpares: 1,
    logger: silentLogger(), onWake: () => {}, onEvent: () => {},
  });
  t.after(async () => {
    await cp.close({ stop: false });
    await dp.close();
    await new Promise<void>((r) => upstream.close(() => r()));
    await rm(dir, { recursive: true, force: true });
  });
  assert.equal(cp.origin.adopted, true);
  const acked = () => waitFor(() => (cp as unknown as { unacked: number }).unacked === 0, { timeoutMs: 5000, what: 'the ack' });
  for (const app of ['a', 'b', 'c']) {
    cp.setRoute(app, { kind: 'serving', upstreams: [{ id: `${app}-1`, address: '127.0.0.1', port }] });
    await acked();
  }
  assert.equal(dp.haproxy!.reloads, 2, '1 → 2 → 4 backends: two reloads');
  for (const app of ['a', 'b', 'c']) {
    const r = await request(dp.port, `${app}.localhost`);
    assert.equal(r.status, 200);
    assert.equal(r.body, `${app}.localhost 0 127.0.0.1`);
  }
  const cfg = await readFile(join(dir, 'haproxy', 'haproxy.cfg'), 'utf8');
  assert.match(cfg, /server a-1 127\.0\.0\.1:\d+ pool-max-conn -1 pool-purge-delay 5s/);
  assert.match(await readFile(join(dir, 'haproxy', 'hosts.map'), 'utf8'), /^a\.localhost app_\d+$/m);

  // Custom domains: an exact one, and a wildcard one label deep, found after the exact host.
  cp.setEdge({ domains: { 'shop.example.com': 'b', '*.example.com': 'c' }, certs: [], challenges: {}, policies: {} });
  await acked();
  assert.equal((await request(dp.port, 'shop.example.com')).body, 'shop.example.com 0 127.0.0.1');
  assert.equal((await request(dp.port, 'Blog.Example.com:80')).body, 'Blog.Example.com:80 0 127.0.0.1', 'the wildcard, whatever the case and port');
  const deep = await request(dp.port, 'a.b.example.com');
  assert.equal(deep.status, 404, 'a wildcard covers one label only');
  assert.match(deep.body, /a\.b\.example\.com/);
  assert.match(await readFile(join(dir, 'haproxy', 'hosts.map'), 'utf8'), /^\*\.example\.com app_\d+$/m);

  // A body HAProxy could not replay (over the hand-back bound) reaches the app through the holder.
  cp.setRoute('a', { kind: 'serving', upstreams: [] });
  await acked();
  const big = request(dp.port, 'a.localhost', 'x'.repeat(100_000));
  await new Promise((r) => setTimeout(r, 50));
  cp.setRoute('a', { kind: 'serving', upstreams: [{ id: 'a-2', address: '127.0.0.1', port }] });
  const bigReply = await big;
  assert.equal(bigReply.status, 200);
  assert.equal(bigReply.body, 'a.localhost 100000 127.0.0.1');

  // The drained a-1 is gone from HAProxy once nothing uses it.
  const rt = new SocketRuntime(join(dir, 'haproxy', 'admin.sock'));
  await waitFor(async () => !(await rt.run('show stat -1 4 -1')).includes(',a-1,'), { timeoutMs: 10_000, what: 'del server of the drained instance' });
});
