// Bounded client connections: caps at accept, header and idle timeouts, and that neither
// touches a held request or the per-request path. Loopback only; 127.0.0.x source
// addresses stand for different clients.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';
import * as msg from './messages.js';
import { Router, type RouterOptions } from './router.js';
import { parseRawReply, rawConnect, rawRequest, request, startUpstream, waitFor, type RawConn, type TestUpstream } from './test-support.js';

async function withRouter(opts: Partial<RouterOptions>, fn: (router: Router, port: number, up: TestUpstream) => Promise<void>): Promise<void> {
  const up = await startUpstream('l1');
  const router = new Router({ port: 0, host: '127.0.0.1', ...opts });
  const { port } = await router.listen();
  router.setRoute('blog', { kind: 'serving', upstreams: [up.upstream()] });
  try {
    await fn(router, port, up);
  } finally {
    await router.close(1000);
    await up.kill();
  }
}

describe('Router: header and idle timeouts', () => {
  const client = { headerTimeoutMs: 300, idleTimeoutMs: 100 };

  it('answers half a request line 408 after the header timeout and closes', async () => {
    await withRouter({ client }, async (router, port, up) => {
      const c = rawConnect(port);
      c.socket.write('GET / HT');
      await waitFor('the 408 and the close', () => c.closed, 5000);
      const r = parseRawReply(c.text());
      assert.equal(r.status, 408);
      assert.equal(r.body, msg.headerTimeoutBody(300));
      assert.equal(r.headers['connection'], 'close');
      assert.equal(up.seen.length, 0);
      assert.equal(router.clientStats().headerTimeouts, 1);
    });
  });

  it('cuts headers trickled a line at a time once the header timeout has passed (slowloris)', async () => {
    await withRouter({ client }, async (_router, port, up) => {
      const c = rawConnect(port);
      c.socket.write('GET / HTTP/1.1\r\nHost: blog.localhost\r\n');
      let n = 0;
      const drip = setInterval(() => c.closed || c.socket.write(`X-Drip-${n++}: a\r\n`), 20);
      try {
        await waitFor('the trickling client to be cut', () => c.closed, 5000);
      } finally {
        clearInterval(drip);
      }
      assert.equal(parseRawReply(c.text()).status, 408);
      assert.equal(up.seen.length, 0);
    });
  });

  it('closes a connection that never sends a byte without an answer', async () => {
    await withRouter({ client }, async (router, port) => {
      const c = rawConnect(port);
      await waitFor('the silent connection to be closed', () => c.closed, 5000);
      assert.equal(c.text(), '');
      assert.equal(router.clientStats().headerTimeouts, 0);
    });
  });

  it('closes an idle keep-alive connection silently, and times out a next request left half sent', async () => {
    await withRouter({ client }, async (_router, port) => {
      const idle = rawConnect(port);
      idle.socket.write('GET /a HTTP/1.1\r\nHost: blog.localhost\r\n\r\n');
      await waitFor('the idle keep-alive connection to be closed', () => idle.closed, 5000);
      assert.equal(idle.text().match(/HTTP\/1\.1 \d{3} /g)?.length, 1);
      assert.match(idle.text(), /l1 GET \/a$/);

      const half = rawConnect(port);
      half.socket.write('GET /b HTTP/1.1\r\nHost: blog.localhost\r\n\r\n');
      await waitFor('the first response', () => half.text().includes('l1 GET /b'), 5000);
      half.socket.write('GET /c HTTP/1.1\r\nHo');
      await waitFor('the 408 for the second request', () => half.closed, 5000);
      const second = parseRawReply(half.text().slice(half.text().indexOf('l1 GET /b') + 'l1 GET /b'.length));
      assert.equal(second.status, 408);
    });
  });

  it('does not count a held request as a partial one: it outlives the header timeout and is served', async () => {
    await withRouter({ client, hold: { maxRequests: 10, maxWaitMs: 30_000 } }, async (router, port, up) => {
      router.setRoute('sleepy', { kind: 'serving', upstreams: [] });
      const get = request({ port, host: 'sleepy.localhost', path: '/g' });
      const post = request({ port, host: 'sleepy.localhost', method: 'POST', path: '/echo', body: 'held-body' });
      await waitFor('two held requests', () => router.appStats('sleepy').held === 2);
      // A partial request opened now is cut after the header timeout: once it is, the held
      // requests have waited at least that long too.
      const probe = rawConnect(port);
      probe.socket.write('GET / HT');
      await waitFor('the probe to be cut', () => probe.closed, 5000);
      assert.equal(parseRawReply(probe.text()).status, 408);
      assert.equal(router.appStats('sleepy').held, 2);

      router.setRoute('sleepy', { kind: 'serving', upstreams: [up.upstream()] });
      const [g, p] = await Promise.all([get, post]);
      assert.equal(g.status, 200);
      assert.equal(g.body, 'l1 GET /g');
      assert.equal(p.status, 200);
      assert.equal(p.body, 'held-body');
    });
  });
});

describe('Router: connection caps', () => {
  it('refuses past 20 per address and 50 in all with 503, Retry-After and close, while others are served', async () => {
    const client = { maxConnections: 50, maxConnectionsPerAddress: 20, headerTimeoutMs: 60_000 };
    await withRouter({ client }, async (router, port) => {
      const open: RawConn[] = [];
      const openIdle = async (from: string, n: number, expectOpen: number) => {
        for (let i = 0; i < n; i++) open.push(rawConnect(port, from));
        await waitFor(`${expectOpen} connections open`, () => router.clientStats().open === expectOpen);
      };
      try {
        await openIdle('127.0.0.1', 20, 20);
        const refused = await Promise.all([1, 2, 3, 4, 5].map(() => rawRequest(port, 'GET / HTTP/1.1\r\nHost: blog.localhost\r\n\r\n')));
        for (const r of refused) {
          assert.equal(r.status, 503);
          assert.equal(r.body, msg.tooManyFromAddressBody(20));
          assert.equal(r.headers['retry-after'], '1');
          assert.equal(r.headers['connection'], 'close');
        }
        assert.equal(router.clientStats().refusedAddress, 5);
        // another address is served meanwhile
        const other = await request({ port, host: 'blog.localhost', localAddress: '127.0.0.2' });
        assert.equal(other.status, 200);
        await waitFor('its connection to close', () => router.clientStats().open === 20);

        await openIdle('127.0.0.3', 20, 40);
        await openIdle('127.0.0.4', 10, 50);
        const full = await rawRequest(port, 'GET / HTTP/1.1\r\nHost: blog.localhost\r\n\r\n', { localAddress: '127.0.0.5' });
        assert.equal(full.status, 503);
        assert.equal(full.body, msg.tooManyConnectionsBody(50));
        assert.equal(router.clientStats().refusedGlobal, 1);
        assert.ok(open.every((c) => !c.closed), 'admitted connections are held, not dropped');

        open.shift()!.socket.destroy();
        await waitFor('a slot to free', () => router.clientStats().open === 49);
        const served = await request({ port, host: 'blog.localhost', localAddress: '127.0.0.6' });
        assert.equal(served.status, 200);
      } finally {
        for (const c of open) c.socket.destroy();
      }
      await waitFor('every connection to be uncounted', () => router.clientStats().open === 0 && router.clientStats().addresses === 0);
    });
  });

  it('rejects bad client options at construction, naming the key', () => {
    assert.throws(() => new Router({ port: 0, client: { maxConnections: 0 } }), /client\.maxConnections/);
    assert.throws(() => new Router({ port: 0, client: { maxConnections: 10, maxConnectionsPerAddress: 20 } }), /client\.maxConnectionsPerAddress/);
    assert.throws(() => new Router({ port: 0, client: { headerTimeoutMs: 0 } }), /client\.headerTimeoutMs/);
    assert.throws(() => new Router({ port: 0, proto: 'gopher' }), /proto/);
  });
});

describe('Router: the per-request path', () => {
  // Not a benchmark: it counts what a request leaves behind. Per-request timers or socket
  // listeners (say, a header timer armed per request) would show here as growth.
  it('arms no timers and adds no socket listeners per request', async () => {
    await withRouter({}, async (router, port) => {
      let routerSide: Socket | undefined;
      (router as unknown as { server: http.Server }).server.on('connection', (s: Socket) => (routerSide = s));
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const counts = (s: Socket) => Object.fromEntries(s.eventNames().map((e) => [String(e), s.listenerCount(e)]));
      const timers = { n: 0 };
      const real = { setTimeout: globalThis.setTimeout, setInterval: globalThis.setInterval, setImmediate: globalThis.setImmediate };
      try {
        assert.equal((await request({ port, host: 'blog.localhost', agent })).status, 200);
        const before = counts(routerSide!);
        globalThis.setTimeout = ((...a: Parameters<typeof setTimeout>) => (timers.n++, real.setTimeout(...a))) as typeof setTimeout;
        globalThis.setInterval = ((...a: Parameters<typeof setInterval>) => (timers.n++, real.setInterval(...a))) as typeof setInterval;
        for (let i = 0; i < 100; i++) {
          const r = await request({ port, host: 'blog.localhost', path: `/r${i}`, agent, method: i % 2 ? 'POST' : 'GET', body: i % 2 ? 'x' : undefined });
          assert.equal(r.status, 200);
        }
        Object.assign(globalThis, real);
        assert.equal(timers.n, 0, 'timers armed while serving 100 requests');
        assert.deepEqual(counts(routerSide!), before);
      } finally {
        Object.assign(globalThis, real);
        agent.destroy();
      }
    });
  });
});
