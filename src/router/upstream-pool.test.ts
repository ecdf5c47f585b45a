import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Router } from './router.js';
import { request, startUpstream, waitFor } from './test-support.js';

describe('Router: upstream socket pool', () => {
  it('reuses keep-alive connections to an upstream', async () => {
    const up = await startUpstream('a');
    const router = new Router({ port: 0, host: '127.0.0.1' });
    const { port } = await router.listen();
    try {
      router.setRoute('p', { kind: 'serving', upstreams: [up.upstream()] });
      for (let i = 0; i < 20; i++) assert.equal((await request({ port, host: 'p.localhost', path: `/${i}` })).status, 200);
      assert.equal(up.sockets.size, 1);
      assert.equal(up.seen[0].headers.connection, 'keep-alive');
    } finally {
      await router.close();
      await up.kill();
    }
  });

  it('queues requests beyond maxSockets and serves them as sockets come free, bodies intact', async () => {
    let open = 0;
    let most = 0;
    const up = await startUpstream('a', (req, res) => {
      open++;
      most = Math.max(most, open);
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () =>
        setTimeout(() => {
          open--;
          res.end(Buffer.concat(chunks));
        }, 5),
      );
    });
    const router = new Router({ port: 0, host: '127.0.0.1', agent: { maxSockets: 2, maxFreeSockets: 1 } });
    const { port } = await router.listen();
    try {
      router.setRoute('q', { kind: 'serving', upstreams: [up.upstream()] });
      const replies = await Promise.all(
        Array.from({ length: 12 }, (_, i) => request({ port, host: 'q.localhost', method: i % 2 ? 'POST' : 'GET', body: i % 2 ? `b${i}` : undefined })),
      );
      for (const [i, r] of replies.entries()) {
        assert.equal(r.status, 200);
        assert.equal(r.body, i % 2 ? `b${i}` : '');
      }
      assert.ok(most <= 2, `at most 2 requests at once upstream, saw ${most}`);
      assert.ok(up.sockets.size <= 2, `${up.sockets.size} connections`);
      assert.equal(router.inflight('a'), 0);
    } finally {
      await router.close();
      await up.kill();
    }
  });

  it('a queued request whose client gives up leaves the queue without taking a socket', async () => {
    const up = await startUpstream('a');
    const router = new Router({ port: 0, host: '127.0.0.1', agent: { maxSockets: 1, maxFreeSockets: 1 } });
    const { port } = await router.listen();
    try {
      router.setRoute('w', { kind: 'serving', upstreams: [up.upstream()] });
      const first = request({ port, host: 'w.localhost', path: '/hang/1' });
      await waitFor('first request upstream', () => up.seen.length === 1);
      let aborted: import('node:http').ClientRequest | undefined;
      const second = request({ port, host: 'w.localhost', path: '/second', onRequest: (r) => (aborted = r) }).catch((e: Error) => e);
      await waitFor('second request queued', () => router.inflight('a') === 2);
      aborted!.destroy();
      await second;
      await waitFor('queued request released', () => router.inflight('a') === 1);
      up.release('1');
      assert.equal((await first).status, 200);
      const third = await request({ port, host: 'w.localhost', path: '/third' });
      assert.equal(third.status, 200);
      assert.deepEqual(up.seen.map((s) => s.url), ['/hang/1', '/third']);
    } finally {
      await router.close();
      await up.kill();
    }
  });
});
