// Custom domains on the Node router: the edge state's domains route a Host to the app that owns
// it (exact name, then a wildcard one label up), beside NAME.localhost; a host no app owns gets
// the 404 naming it. The same through the data plane process's protocol ({t:'edge'}, acked).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { silentLogger } from '../logging/logger.js';
import { waitFor } from '../testing/wait.js';
import { DataPlaneClient } from './dataplane-client.js';
import { runDataPlane } from './dataplane.js';
import { EMPTY_EDGE, type EdgeState } from './edge-types.js';
import * as msg from './messages.js';
import { Router } from './router.js';
import { request, startUpstream } from './test-support.js';

const edge = (domains: Record<string, string>): EdgeState => ({ ...EMPTY_EDGE, domains });

test('Router: a custom domain routes to its owner, exact before wildcard, beside NAME.localhost; an unowned host is 404 naming it', async (t) => {
  const site = await startUpstream('site-1');
  const tenants = await startUpstream('tenants-1');
  const router = new Router({ port: 0, host: '127.0.0.1' });
  const { port } = await router.listen();
  t.after(async () => {
    await router.close(1000);
    await site.kill();
    await tenants.kill();
  });
  router.setRoute('site', { kind: 'serving', upstreams: [site.upstream()] });
  router.setRoute('tenants', { kind: 'serving', upstreams: [tenants.upstream()] });
  const get = (host: string) => request({ port, host });

  const before = await get('www.example.com');
  assert.equal(before.status, 404);
  assert.equal(before.body, msg.foreignHostBody('www.example.com', ['localhost']));

  router.setEdge(edge({ 'www.example.com': 'site', '*.example.com': 'tenants' }));
  assert.equal((await get('www.example.com')).headers['x-upstream'], 'site-1');
  assert.equal((await get('WWW.Example.com:8080')).headers['x-upstream'], 'site-1', 'case and port do not matter');
  assert.equal((await get('www.example.com.')).headers['x-upstream'], 'site-1', 'nor the trailing dot');
  assert.equal((await get('acme.example.com')).headers['x-upstream'], 'tenants-1', 'the wildcard');
  assert.equal((await get('site.localhost')).headers['x-upstream'], 'site-1', 'NAME.localhost still');
  const deep = await get('a.b.example.com');
  assert.equal(deep.status, 404, 'a wildcard covers one label, not two');
  assert.match(deep.body, /Host "a\.b\.example\.com" is not served here/);
  const apex = await get('example.com');
  assert.equal(apex.status, 404);

  router.setEdge(edge({ 'www.example.com': 'site' }));
  assert.equal((await get('acme.example.com')).status, 404, 'replaced whole: the wildcard is gone');
  assert.deepEqual(router.currentEdge().domains, { 'www.example.com': 'site' });
  assert.throws(() => router.setEdge({} as EdgeState), /not an edge state/);
});

test('data plane: {t:edge} is applied and acked like a route, and a control plane that adopts it sets it again', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'summon-dp-edge-'));
  const up = await startUpstream('web-1');
  const socket = join(dir, 'dataplane.sock');
  const dp = await runDataPlane({ port: 0, host: '127.0.0.1', domains: ['localhost'], socket, version: 'test' });
  const clients: DataPlaneClient[] = [];
  t.after(async () => {
    for (const c of clients) await c.close({ stop: false });
    await dp.close();
    await up.kill();
    await rm(dir, { recursive: true, force: true });
  });
  const open = async () => {
    const c = await DataPlaneClient.open({ dataDir: dir, port: 0, host: '127.0.0.1', domains: ['localhost'], version: 'test', logger: silentLogger(), onWake: () => {}, onEvent: () => {} });
    clients.push(c);
    return c;
  };
  const cp = await open();
  cp.setRoute('web', { kind: 'serving', upstreams: [up.upstream()] });
  cp.setEdge(edge({ 'shop.example.com': 'web' }));
  const unacked = () => (cp as unknown as { unacked: number }).unacked;
  assert.ok(unacked() > 0, 'counted until acked');
  await waitFor(() => unacked() === 0, { timeoutMs: 2000, what: 'the acks' });
  assert.equal((await request({ port: dp.port, host: 'shop.example.com' })).headers['x-upstream'], 'web-1');

  // Let go: the data plane keeps serving the domain with no control plane.
  await cp.close({ stop: false });
  assert.equal((await request({ port: dp.port, host: 'shop.example.com' })).headers['x-upstream'], 'web-1');
  const next = await open();
  assert.equal(next.origin.adopted, true);
  next.setEdge(edge({}));
  await waitFor(async () => (await request({ port: dp.port, host: 'shop.example.com' })).status === 404, { timeoutMs: 2000, what: 'the domain removed' });
});
