import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { Router } from './router.js';
import { bigStream, request, startUpstream, waitFor, type TestUpstream } from './test-support.js';

describe('Router: routing and router-made responses', () => {
  let router: Router;
  let port: number;
  let a: TestUpstream;
  before(async () => {
    a = await startUpstream('a1');
    router = new Router({ port: 0, host: '127.0.0.1', domains: ['localhost', 'apps.example.com'] });
    ({ port } = await router.listen());
    router.setRoute('blog', { kind: 'serving', upstreams: [a.upstream()] });
    router.setRoute('fresh', { kind: 'no-release' });
  });
  after(async () => {
    await router.close();
    await a.kill();
  });

  it('routes NAME.localhost:port and NAME.<domain> to the app, forwarding method, path and headers', async () => {
    const r1 = await request({ port, host: `blog.localhost:${port}`, path: '/x?y=1' });
    assert.equal(r1.status, 200);
    assert.equal(r1.body, 'a1 GET /x?y=1');
    assert.equal(r1.headers['x-upstream'], 'a1');
    const r2 = await request({ port, host: 'blog.apps.example.com', method: 'DELETE', path: '/p' });
    assert.equal(r2.body, 'a1 DELETE /p');
    const r3 = await request({ port, host: 'BLOG.LOCALHOST' });
    assert.equal(r3.status, 200);
  });

  it('sets X-Forwarded-* (dropping the client\'s) and strips hop-by-hop headers, including those named in Connection', async () => {
    const before = a.seen.length;
    await request({
      port,
      host: 'blog.localhost',
      headers: { 'x-forwarded-for': '10.0.0.9', connection: 'keep-alive, x-secret', 'x-secret': 'no', 'keep-alive': 'timeout=5', 'x-kept': 'yes' },
    });
    const h = a.seen[before].headers;
    assert.equal(h['x-forwarded-for'], '127.0.0.1');
    assert.equal(h['x-forwarded-proto'], 'http');
    assert.equal(h['x-forwarded-host'], 'blog.localhost');
    assert.equal(h['host'], 'blog.localhost');
    assert.equal(h['x-secret'], undefined);
    assert.equal(h['keep-alive'], undefined);
    assert.equal(h['x-kept'], 'yes');
  });

  it('answers an unknown app with 404 naming the host and how to create it', async () => {
    const r = await request({ port, host: `nope.localhost:${port}` });
    assert.equal(r.status, 404);
    assert.match(r.body, new RegExp(`nope\\.localhost:${port}`));
    assert.match(r.body, /summon apps:create nope/);
    assert.match(String(r.headers['content-type']), /^text\/plain/);
  });

  it('answers an app without a release with 503 saying to git push', async () => {
    const r = await request({ port, host: 'fresh.localhost' });
    assert.equal(r.status, 503);
    assert.match(r.body, /no release yet/);
    assert.match(r.body, /git push/);
  });

  it('answers a host outside the served domains with 404 naming the host and the domains', async () => {
    const r = await request({ port, host: 'example.org' });
    assert.equal(r.status, 404);
    assert.match(r.body, /example\.org/);
    assert.match(r.body, /NAME\.localhost, NAME\.apps\.example\.com/);
    const nested = await request({ port, host: 'a.b.localhost' });
    assert.equal(nested.status, 404);
    assert.equal(router.metrics().unrouted >= 2, true);
  });

  it('passes HEAD through with the upstream length and no body', async () => {
    const r = await request({ port, host: 'blog.localhost', method: 'HEAD', path: '/h' });
    assert.equal(r.status, 200);
    assert.equal(r.body, '');
    const direct = await request({ port: a.port, host: 'blog.localhost', method: 'HEAD', path: '/h' });
    assert.equal(r.headers['content-length'], direct.headers['content-length']);
    assert.equal(r.headers['x-upstream'], 'a1');
  });

  it('finishes a response with Content-Length: 0 (regression: the client waited forever)', async () => {
    const r = await request({ port, host: 'blog.localhost', path: '/echo' });
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-length'], '0');
    assert.equal(r.body, '');
  });

  it('keeps client connections alive across requests', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set<unknown>();
    for (let i = 0; i < 5; i++) {
      await new Promise<void>((resolve, reject) => {
        const r = http.get({ host: '127.0.0.1', port, path: '/', headers: { host: 'blog.localhost' }, agent }, (res) => {
          sockets.add(res.socket);
          res.resume();
          res.on('end', resolve);
        });
        r.on('error', reject);
      });
    }
    agent.destroy();
    assert.equal(sockets.size, 1);
  });

  it('counts requests by status class with a latency histogram', () => {
    const m = router.metrics().apps['blog'];
    assert.ok(m.requests['2xx'] >= 6);
    assert.equal(m.latency.count, m.requests['2xx'] + m.requests['5xx'] + m.requests['4xx'] + m.requests['3xx'] + m.requests['1xx']);
    assert.equal(m.latency.counts.length, m.latency.bounds.length + 1);
    assert.equal(m.latency.counts.reduce((x, y) => x + y, 0), m.latency.count);
    assert.equal(router.metrics().apps['fresh'].requests['5xx'], 1);
    assert.ok(router.appStats('blog').lastRequestAt! > 0);
  });

  it('rejects bad options at construction, naming the key', () => {
    assert.throws(() => new Router({ port: -1 }), /port/);
    assert.throws(() => new Router({ port: 0, hold: { maxWaitMs: 0 } }), /hold\.maxWaitMs/);
    assert.throws(() => new Router({ port: 0, domains: ['Bad Domain'] }), /domains/);
    assert.throws(() => router.setRoute('Bad', { kind: 'no-release' }), /app name/);
    assert.throws(() => router.setRoute('ok', { kind: 'serving', upstreams: [{ id: 'x', address: '127.0.0.1', port: 0 }] }), /port/);
  });
});

describe('Router: streaming', () => {
  let router: Router;
  let port: number;
  let up: TestUpstream;
  let releaseSecond: () => void = () => {};
  // Big enough that buffering it would dwarf the garbage that streaming it leaves behind.
  const BIG = 256 * 1024 * 1024;
  const MAX_GROWTH = 96 * 1024 * 1024;
  before(async () => {
    up = await startUpstream('s1', (req, res) => {
      if (req.url === '/upload') {
        let n = 0;
        req.on('data', (c: Buffer) => (n += c.length));
        req.on('end', () => res.end(String(n)));
      } else if (req.url === '/download') {
        req.resume();
        res.writeHead(200, { 'content-length': String(BIG) });
        bigStream(BIG).pipe(res);
      } else if (req.url === '/chunked') {
        req.resume();
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first;');
        releaseSecond = () => res.end('second');
      }
    });
    router = new Router({ port: 0, host: '127.0.0.1' });
    ({ port } = await router.listen());
    router.setRoute('big', { kind: 'serving', upstreams: [up.upstream()] });
  });
  after(async () => {
    await router.close();
    await up.kill();
  });

  // Router, client and upstream share this process, so whole-body buffering anywhere
  // in the path would show as RSS growth of at least the body size.
  async function peakRssGrowth(work: () => Promise<void>): Promise<number> {
    global.gc?.();
    const base = process.memoryUsage.rss();
    let peak = base;
    const t = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20);
    try {
      await work();
    } finally {
      clearInterval(t);
    }
    const growth = Math.max(peak, process.memoryUsage.rss()) - base;
    console.log(`RSS growth ${(growth / 1048576).toFixed(1)} MB for ${BIG >> 20} MB streamed`);
    return growth;
  }

  it(`streams a ${BIG >> 20} MB request body through without buffering it`, async () => {
    let reply: Awaited<ReturnType<typeof request>> | undefined;
    const growth = await peakRssGrowth(async () => {
      reply = await request({ port, host: 'big.localhost', method: 'POST', path: '/upload', body: bigStream(BIG) });
    });
    assert.equal(reply!.status, 200);
    assert.equal(reply!.body, String(BIG));
    assert.ok(growth < MAX_GROWTH, `RSS grew ${(growth / 1048576).toFixed(1)} MB`);
  });

  it(`streams a ${BIG >> 20} MB response body through without buffering it`, async () => {
    let received = 0;
    const growth = await peakRssGrowth(
      () =>
        new Promise<void>((resolve, reject) => {
          http
            .get({ host: '127.0.0.1', port, path: '/download', headers: { host: 'big.localhost' }, agent: false }, (res) => {
              res.on('data', (c: Buffer) => (received += c.length));
              res.on('end', resolve);
              res.on('error', reject);
            })
            .on('error', reject);
        }),
    );
    assert.equal(received, BIG);
    assert.ok(growth < MAX_GROWTH, `RSS grew ${(growth / 1048576).toFixed(1)} MB`);
  });

  it('delivers the first chunk of a chunked response before the upstream has finished', async () => {
    const body = await new Promise<string>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: '/chunked', headers: { host: 'big.localhost' }, agent: false }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            text += c;
            // the upstream only finishes once we have seen its first chunk
            if (text === 'first;') releaseSecond();
          });
          res.on('end', () => resolve(text));
        })
        .on('error', reject);
    });
    assert.equal(body, 'first;second');
  });
});

describe('Router: least-loaded choice', () => {
  let router: Router;
  let port: number;
  let a: TestUpstream;
  let b: TestUpstream;
  before(async () => {
    a = await startUpstream('a');
    b = await startUpstream('b');
    router = new Router({ port: 0, host: '127.0.0.1' });
    ({ port } = await router.listen());
    router.setRoute('ll', { kind: 'serving', upstreams: [a.upstream(), b.upstream()] });
  });
  after(async () => {
    await router.close();
    await a.kill();
    await b.kill();
  });

  it('breaks ties round-robin', async () => {
    const order: string[] = [];
    for (let i = 0; i < 6; i++) order.push((await request({ port, host: 'll.localhost' })).body.split(' ')[0]);
    assert.deepEqual(order.filter((x) => x === 'a').length, 3);
    for (let i = 1; i < order.length; i++) assert.notEqual(order[i], order[i - 1], `order ${order.join(',')}`);
  });

  it('sends requests to the upstream with fewer in flight', async () => {
    // park one request on whichever upstream it lands on
    const parked = request({ port, host: 'll.localhost', path: '/hang/p1' });
    await waitFor('a request in flight', () => router.inflight('a') + router.inflight('b') === 1);
    const busy = router.inflight('a') === 1 ? 'a' : 'b';
    const idle = busy === 'a' ? 'b' : 'a';
    assert.equal(router.appStats('ll').inflight, 1);
    for (let i = 0; i < 8; i++) {
      const r = await request({ port, host: 'll.localhost' });
      assert.equal(r.body.split(' ')[0], idle);
    }
    (busy === 'a' ? a : b).release('p1');
    assert.equal((await parked).status, 200);
    await waitFor('in-flight to return to zero', () => router.inflight(busy) === 0);
  });
});

describe('Router: draining', () => {
  it('finishes in-flight requests, sends nothing new, closes idle sockets at once and busy ones after their response', async () => {
    const a = await startUpstream('a');
    const b = await startUpstream('b');
    const router = new Router({ port: 0, host: '127.0.0.1' });
    const { port } = await router.listen();
    try {
      router.setRoute('dr', { kind: 'serving', upstreams: [a.upstream()] });
      // two requests in flight on two sockets; finish one so its socket goes idle
      const busy = request({ port, host: 'dr.localhost', path: '/hang/busy' });
      const idle = request({ port, host: 'dr.localhost', path: '/hang/idle' });
      await waitFor('two requests at a', () => router.inflight('a') === 2);
      a.release('idle');
      assert.equal((await idle).status, 200);
      await waitFor('one in flight', () => router.inflight('a') === 1);
      assert.equal(a.sockets.size, 2);

      router.setRoute('dr', { kind: 'serving', upstreams: [b.upstream()] });
      await waitFor('the idle socket to a to close', () => a.sockets.size === 1);
      assert.equal(router.inflight('a'), 1);

      const seenAtA = a.seen.length;
      for (let i = 0; i < 5; i++) assert.equal((await request({ port, host: 'dr.localhost' })).body.split(' ')[0], 'b');
      assert.equal(a.seen.length, seenAtA);

      a.release('busy');
      const r = await busy;
      assert.equal(r.status, 200);
      assert.equal(r.body, 'a released busy');
      await waitFor('the busy socket to a to close after its response', () => a.sockets.size === 0);
      assert.equal(router.inflight('a'), 0);
    } finally {
      await router.close();
      await a.kill();
      await b.kill();
    }
  });
});

describe('Router: upgrade pass-through', () => {
  it('relays an Upgrade handshake and then bytes both ways', async () => {
    const up = await startUpstream('ws');
    up.server.on('upgrade', (req: http.IncomingMessage, socket: import('node:net').Socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n');
      socket.on('data', (d: Buffer) => socket.write('echo:' + d.toString()));
    });
    const router = new Router({ port: 0, host: '127.0.0.1' });
    const { port } = await router.listen();
    router.setRoute('ws', { kind: 'serving', upstreams: [up.upstream()] });
    try {
      const reply = await new Promise<string>((resolve, reject) => {
        const r = http.request({ host: '127.0.0.1', port, headers: { host: 'ws.localhost', connection: 'Upgrade', upgrade: 'echo' } });
        r.on('upgrade', (res, socket) => {
          assert.equal(res.statusCode, 101);
          socket.once('data', (d: Buffer) => {
            resolve(d.toString());
            socket.destroy();
          });
          socket.write('ping');
        });
        r.on('error', reject);
        r.end();
      });
      assert.equal(reply, 'echo:ping');
      await waitFor('the upgraded connection to end', () => router.inflight('ws') === 0);
    } finally {
      await router.close(500);
      await up.kill();
    }
  });
});
