import assert from 'node:assert/strict';
import type http from 'node:http';
import { describe, it } from 'node:test';
import { Router, type RouterEvent, type RouterOptions } from './router.js';
import { request, startUpstream, waitFor, type TestUpstream } from './test-support.js';
import { scaled } from '../testing/wait.js';

async function withRouter(opts: Partial<RouterOptions>, fn: (router: Router, port: number) => Promise<void>): Promise<void> {
  const router = new Router({ port: 0, host: '127.0.0.1', ...opts });
  const { port } = await router.listen();
  try {
    await fn(router, port);
  } finally {
    await router.close(1000);
  }
}

describe('Router: hold and wake', () => {
  it('holds requests for an app with no upstream, wakes it once, and releases them when an upstream arrives', async () => {
    const woken: string[] = [];
    const up = await startUpstream('w1');
    try {
      await withRouter({ wake: (app) => woken.push(app) }, async (router, port) => {
        router.setRoute('sleepy', { kind: 'serving', upstreams: [] });
        const get = request({ port, host: 'sleepy.localhost', path: '/a' });
        const post = request({ port, host: 'sleepy.localhost', method: 'POST', path: '/echo', body: 'payload-123' });
        await waitFor('two held requests', () => router.appStats('sleepy').held === 2);
        assert.deepEqual(woken, ['sleepy']);
        assert.equal(up.seen.length, 0);

        router.setRoute('sleepy', { kind: 'serving', upstreams: [up.upstream()] });
        const [g, p] = await Promise.all([get, post]);
        assert.equal(g.status, 200);
        assert.equal(g.body, 'w1 GET /a');
        assert.equal(p.status, 200);
        assert.equal(p.body, 'payload-123');
        assert.equal(router.appStats('sleepy').held, 0);
        const m = router.metrics().apps['sleepy'];
        assert.equal(m.wakes, 1);
        assert.equal(m.held, 2);
        assert.equal(m.wakeLatency.count, 1);
        assert.equal(m.wakeLatency.samplesMs.length, 1);
      });
    } finally {
      await up.kill();
    }
  });

  it('refuses requests past maxRequests with 503 and Retry-After, at once', async () => {
    await withRouter({ hold: { maxRequests: 2, maxWaitMs: 10_000 } }, async (router, port) => {
      router.setRoute('full', { kind: 'serving', upstreams: [] });
      const held = [request({ port, host: 'full.localhost' }), request({ port, host: 'full.localhost' })];
      await waitFor('two held', () => router.appStats('full').held === 2);
      const r = await request({ port, host: 'full.localhost' });
      assert.equal(r.status, 503);
      assert.equal(r.headers['retry-after'], '1');
      assert.match(r.body, /already has 2 requests waiting/);
      assert.equal(router.metrics().apps['full'].rejected, 1);
      router.setRoute('full', { kind: 'no-release' });
      for (const h of await Promise.all(held)) assert.equal(h.status, 503);
    });
  });

  it('answers a request held longer than maxWaitMs with 503 and Retry-After', async () => {
    const events: RouterEvent[] = [];
    await withRouter({ hold: { maxWaitMs: 150 }, onEvent: (e) => events.push(e) }, async (router, port) => {
      router.setRoute('slow', { kind: 'serving', upstreams: [] });
      const t0 = Date.now();
      const r = await request({ port, host: 'slow.localhost' });
      const waited = Date.now() - t0;
      assert.equal(r.status, 503);
      assert.ok(r.headers['retry-after'], 'Retry-After present');
      assert.match(r.body, /did not become ready within/);
      assert.ok(waited >= 140 && waited < scaled(3000), `waited ${waited}ms`);
      assert.equal(router.appStats('slow').held, 0);
      assert.equal(router.metrics().apps['slow'].holdTimeouts, 1);
      assert.ok(events.some((e) => e.type === 'router.hold_timeout' && e.app === 'slow'));
    });
  });

  it('drops a held request from the queue when its client disconnects', async () => {
    await withRouter({}, async (router, port) => {
      router.setRoute('gone', { kind: 'serving', upstreams: [] });
      let creq: http.ClientRequest | undefined;
      const p = request({ port, host: 'gone.localhost', onRequest: (r) => (creq = r) }).catch((e: Error) => e);
      await waitFor('held', () => router.appStats('gone').held === 1);
      creq!.destroy();
      await p;
      await waitFor('the queue to empty', () => router.appStats('gone').held === 0);
    });
  });

  it('answers held requests when the app is deleted or loses its release', async () => {
    await withRouter({}, async (router, port) => {
      router.setRoute('del', { kind: 'serving', upstreams: [] });
      const p = request({ port, host: 'del.localhost' });
      await waitFor('held', () => router.appStats('del').held === 1);
      router.deleteRoute('del');
      const r = await p;
      assert.equal(r.status, 404);
      assert.match(r.body, /deleted/);
    });
  });
});

describe('Router: upstream response-header timeout', () => {
  it('answers 504 when the upstream sends no headers in time', async () => {
    const up: TestUpstream = await startUpstream('t1');
    try {
      await withRouter({ headerTimeoutMs: 100 }, async (router, port) => {
        router.setRoute('hang', { kind: 'serving', upstreams: [up.upstream()] });
        const r = await request({ port, host: 'hang.localhost', path: '/hang/never' });
        assert.equal(r.status, 504);
        assert.match(r.body, /did not start its response within 0\.1s/);
        assert.equal(router.inflight('t1'), 0);
        assert.equal(router.metrics().apps['hang'].timeouts, 1);
      });
    } finally {
      await up.kill();
    }
  });
});
