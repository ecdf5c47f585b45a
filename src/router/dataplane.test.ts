// The data plane and its control protocol, in one process: a control plane adopts a running
// data plane, routes through it, learns in-flight counts and drain ends from it, lets go of it
// (it goes on serving), and the next control plane is asked to wake what was held meanwhile.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../logging/logger.js';
import { waitFor } from '../testing/wait.js';
import { DataPlaneClient } from './dataplane-client.js';
import { runDataPlane, type DataPlaneConfig } from './dataplane.js';
import type { RouterEvent } from './router.js';

function get(port: number, app: string, path = '/'): Promise<{ status: number; body: string; retryAfter?: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, headers: { host: `${app}.localhost` }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ...(res.headers['retry-after'] ? { retryAfter: String(res.headers['retry-after']) } : {}) }));
    });
    req.on('error', reject);
    req.end();
  });
}

for (const kind of ['node', 'haproxy'] as const) test(`${kind}: a control plane adopts the data plane, routes through it, lets go, and the next one wakes what was held`, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'summon-dataplane-'));
  // An upstream that answers /slow only when told to.
  let release: (() => void) | null = null;
  const upstream = http.createServer((req, res) => {
    if (req.url === '/slow') release = () => res.end('slow done');
    else res.end(`hello ${req.url}`);
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  const upPort = (upstream.address() as { port: number }).port;
  const cfg: DataPlaneConfig = { port: 0, host: '127.0.0.1', domains: ['localhost'], hold: { maxRequests: 10, maxWaitMs: 5000 }, socket: join(dir, 'dataplane.sock'), version: 'test', dataPlane: kind };
  const dp = await runDataPlane(cfg);
  const clients: DataPlaneClient[] = [];
  t.after(async () => {
    for (const c of clients) await c.close({ stop: false });
    await dp.close();
    await new Promise<void>((r) => upstream.close(() => r()));
    await rm(dir, { recursive: true, force: true });
  });
  const wakes: string[] = [];
  const events: RouterEvent[] = [];
  const open = async () => {
    const c = await DataPlaneClient.open({
      dataDir: dir, port: 0, host: '127.0.0.1', domains: ['localhost'], hold: { maxRequests: 10, maxWaitMs: 5000 }, version: 'test', dataPlane: kind,
      logger: silentLogger(), onWake: (app) => wakes.push(app), onEvent: (e) => events.push(e),
    });
    clients.push(c);
    return c;
  };

  const cp = await open();
  assert.equal(cp.origin.adopted, true, 'the running data plane was adopted, not replaced');
  assert.equal(cp.port, dp.port);
  assert.equal(cp.kind.dataPlane, kind, 'the hello says which data plane runs');
  const upstreams = [{ id: 'web-1', address: '127.0.0.1', port: upPort }];
  cp.setRoute('web', { kind: 'serving', upstreams });
  assert.equal(cp.inflight('web-1'), 1, 'busy until the data plane has acknowledged the change');
  await waitFor(() => cp.inflight('web-1') === 0, { timeoutMs: 2000, what: 'the ack' });
  assert.equal((await get(dp.port, 'web', '/a')).body, 'hello /a');

  // A request in flight on an instance that is then drained: busy until it is done.
  const slow = get(dp.port, 'web', '/slow');
  await waitFor(() => release !== null, { timeoutMs: 2000, what: 'the slow request upstream' });
  cp.setRoute('web', { kind: 'serving', upstreams: [] });
  await waitFor(() => cp.inflight('web-1') === 1 && (cp as unknown as { unacked: number }).unacked === 0, { timeoutMs: 2000, what: 'the ack with the request in flight' });
  release!();
  assert.equal((await slow).body, 'slow done');
  await waitFor(() => cp.inflight('web-1') === 0, { timeoutMs: 2000, what: 'the drain-done notice' });

  // The counters come through.
  cp.setRoute('web', { kind: 'serving', upstreams });
  await get(dp.port, 'web', '/b');
  await waitFor(() => (cp.metrics().apps.web?.requests['2xx'] ?? 0) >= 3, { timeoutMs: 3000, what: 'the counters' });
  assert.ok((cp.appStats('web').lastRequestAt ?? 0) > 0);

  // The control plane goes away: the data plane goes on serving with its table...
  cp.setRoute('sleepy', { kind: 'serving', upstreams: [] });
  await waitFor(() => cp.inflight('web-1') === 0, { timeoutMs: 2000, what: 'the ack' });
  await cp.close({ stop: false });
  assert.equal((await get(dp.port, 'web', '/c')).body, 'hello /c');
  // ...and holds a request for an app at zero until a control plane is back to wake it.
  const held = get(dp.port, 'sleepy');
  await new Promise((r) => setTimeout(r, 100));
  assert.ok(!wakes.includes('sleepy'), 'no control plane to tell yet');
  const next = await open();
  await waitFor(() => wakes.includes('sleepy'), { timeoutMs: 2000, what: 'the wake-up asked of the new control plane' });
  await waitFor(() => events.some((e) => e.type === 'router.wake' && e.app === 'sleepy'), { timeoutMs: 2000, what: 'the event kept while nobody listened' });
  next.setRoute('sleepy', { kind: 'serving', upstreams });
  assert.equal((await held).status, 200);

  // sync() drops what a new control plane does not know (an app destroyed while it was away).
  await next.close({ stop: false });
  const third = await open();
  third.setRoute('web', { kind: 'serving', upstreams });
  third.sync();
  await waitFor(async () => (await get(dp.port, 'sleepy')).status === 404, { timeoutMs: 2000, what: 'sleepy gone from the table' });
  assert.equal((await get(dp.port, 'web', '/d')).body, 'hello /d');
});

test('a data plane with other settings is replaced, not adopted', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'summon-dataplane-cfg-'));
  const dp = await runDataPlane({ port: 0, host: '127.0.0.1', domains: ['localhost'], socket: join(dir, 'dataplane.sock'), version: 'old' });
  let c: DataPlaneClient | undefined;
  t.after(async () => {
    await c?.close({ stop: true });
    await dp.close();
    await rm(dir, { recursive: true, force: true });
  });
  c = await DataPlaneClient.open({
    dataDir: dir, port: 0, host: '127.0.0.1', domains: ['localhost', 'apps.example.com'], version: 'new',
    logger: silentLogger(), onWake: () => {}, onEvent: () => {},
  });
  await dp.closed; // told to stop
  assert.equal(c.origin.adopted, false);
  assert.match(c.origin.replaced ?? '', /replaced the running data plane \(pid \d+, Summon old\): its settings .* differ/);
  assert.notEqual(c.origin.pid, process.pid, 'a data plane process of its own');
  c.setRoute('web', { kind: 'no-release' });
  await waitFor(async () => (await get(c!.port, 'web').catch(() => ({ status: 0 }))).status === 503, { timeoutMs: 5000, what: 'the new data plane serving' });
});

test('HTTPS is part of the data plane: its port is in the hello, and a control plane with HTTPS on or off differently replaces it', async (t) => {
  const { configKey } = await import('./dataplane.js');
  const base = { host: '127.0.0.1', domains: ['localhost'] };
  assert.notEqual(configKey({ ...base, httpsPort: 0 }), configKey(base), 'HTTPS on or off is a setting that must match');
  assert.equal(configKey({ ...base, httpsPort: 0 }), configKey({ ...base, httpsPort: 8443 }), 'its port is compared like the HTTP port');
  const dir = await mkdtemp(join(tmpdir(), 'summon-dataplane-'));
  const cfg: DataPlaneConfig = { port: 0, ...base, httpsPort: 0, socket: join(dir, 'dataplane.sock'), version: 'test' };
  const dp = await runDataPlane(cfg);
  const clients: DataPlaneClient[] = [];
  t.after(async () => {
    for (const c of clients) await c.close({ stop: true });
    await dp.close();
    await rm(dir, { recursive: true, force: true });
  });
  assert.ok(dp.httpsPort !== null && dp.httpsPort > 0 && dp.httpsPort !== dp.port);
  const open = async (httpsPort: number | null) => {
    const c = await DataPlaneClient.open({
      dataDir: dir, port: 0, ...base, ...(httpsPort !== null ? { httpsPort } : {}), version: 'test', logger: silentLogger(), onWake: () => undefined, onEvent: () => undefined,
    });
    clients.push(c);
    return c;
  };
  const same = await open(0);
  assert.equal(same.origin.adopted, true);
  assert.equal(same.httpsPort, dp.httpsPort);
  await same.close({ stop: false });
  clients.pop();
  const off = await open(null);
  assert.equal(off.origin.adopted, false, 'HTTPS off: the one with HTTPS is replaced');
  assert.match(off.origin.replaced ?? '', /HTTPS on or off/);
  assert.equal(off.httpsPort, null);
  await dp.closed;
});
