import assert from 'node:assert/strict';
import http from 'node:http';
import { describe, it } from 'node:test';
import { Router, type RouterEvent } from './router.js';
import { deadPort, request, startUpstream, waitFor } from './test-support.js';

async function setup(opts: ConstructorParameters<typeof Router>[0] | object = {}) {
  const events: RouterEvent[] = [];
  const router = new Router({ port: 0, host: '127.0.0.1', onEvent: (e) => events.push(e), ...opts });
  const { port } = await router.listen();
  return { router, port, events };
}

describe('Router: retries', () => {
  it('retries a refused connect on another upstream, bodies intact, for any method', async () => {
    const live = await startUpstream('live');
    const dead = { id: 'dead', address: '127.0.0.1', port: await deadPort() };
    const { router, port, events } = await setup();
    try {
      router.setRoute('r', { kind: 'serving', upstreams: [dead, live.upstream()] });
      for (let i = 0; i < 4; i++) {
        const g = await request({ port, host: 'r.localhost', path: `/g${i}` });
        assert.equal(g.status, 200);
        const p = await request({ port, host: 'r.localhost', method: 'POST', path: '/echo', body: `body-${i}` });
        assert.equal(p.status, 200);
        assert.equal(p.body, `body-${i}`);
      }
      const m = router.metrics().apps['r'];
      assert.ok(m.retries >= 1, `retries ${m.retries}`);
      assert.equal(m.upstreamErrors, m.retries);
      assert.ok(events.some((e) => e.type === 'router.upstream_error' && e.data?.code === 'ECONNREFUSED'));
      assert.equal(router.inflight('dead'), 0);
    } finally {
      await router.close();
      await live.kill();
    }
  });

  it('retries a GET once elsewhere when the upstream drops the connection before answering', async () => {
    const crashy = await startUpstream('crashy', (req) => req.socket.destroy());
    const good = await startUpstream('good');
    const { router, port } = await setup();
    try {
      router.setRoute('g', { kind: 'serving', upstreams: [crashy.upstream(), good.upstream()] });
      for (let i = 0; i < 4; i++) {
        const r = await request({ port, host: 'g.localhost', path: `/x${i}` });
        assert.equal(r.status, 200);
        assert.equal(r.body, `good GET /x${i}`);
      }
      assert.ok(crashy.seen.length >= 1);
      assert.equal(router.metrics().apps['g'].retries, crashy.seen.length);
    } finally {
      await router.close();
      await crashy.kill();
      await good.kill();
    }
  });

  it('holds a GET whose only upstream dropped it, and sends it to the replacement', async () => {
    const crashy = await startUpstream('crashy', (req) => req.socket.destroy());
    const fresh = await startUpstream('fresh');
    const woken: string[] = [];
    const { router, port } = await setup({ wake: (a: string) => woken.push(a) });
    try {
      router.setRoute('h', { kind: 'serving', upstreams: [crashy.upstream()] });
      const p = request({ port, host: 'h.localhost', path: '/once' });
      await waitFor('the request to be held after the crash', () => router.appStats('h').held === 1);
      assert.deepEqual(woken, ['h']);
      router.setRoute('h', { kind: 'serving', upstreams: [fresh.upstream()] });
      const r = await p;
      assert.equal(r.status, 200);
      assert.equal(r.body, 'fresh GET /once');
    } finally {
      await router.close();
      await crashy.kill();
      await fresh.kill();
    }
  });

  it('does not retry a POST whose request was sent: 502 with a clear body', async () => {
    const crashy = await startUpstream('crashy', (req) => req.on('data', () => req.socket.destroy()));
    const good = await startUpstream('good');
    const { router, port } = await setup();
    try {
      // crashy is first, so the round-robin start picks it on the first request
      router.setRoute('p', { kind: 'serving', upstreams: [crashy.upstream(), good.upstream()] });
      const r = await request({ port, host: 'p.localhost', method: 'POST', path: '/echo', body: 'charge-card' });
      assert.equal(r.status, 502);
      assert.match(r.body, /not retried/);
      assert.match(r.body, /POST/);
      assert.equal(good.seen.length, 0);
      assert.equal(router.metrics().apps['p'].retries, 0);
      assert.equal(router.metrics().apps['p'].requests['5xx'], 1);
    } finally {
      await router.close();
      await crashy.kill();
      await good.kill();
    }
  });

  it('rate-limits router.upstream_error events and reports how many it dropped', async () => {
    let clock = 1_000_000;
    const dead = { id: 'dead', address: '127.0.0.1', port: await deadPort() };
    const { router, port, events } = await setup({ now: () => clock, hold: { maxWaitMs: 50 }, maxAttempts: 1 });
    try {
      router.setRoute('e', { kind: 'serving', upstreams: [dead] });
      for (let i = 0; i < 10; i++) await request({ port, host: 'e.localhost' });
      const errs = () => events.filter((e) => e.type === 'router.upstream_error');
      assert.equal(errs().length, 1);
      clock += 1500;
      await request({ port, host: 'e.localhost' });
      assert.equal(errs().length, 2);
      assert.equal(errs()[1].data?.suppressed, 9);
      assert.equal(router.metrics().apps['e'].upstreamErrors, 11);
    } finally {
      await router.close();
    }
  });

  it('cuts the client off when the upstream dies mid-body', async () => {
    const half = await startUpstream('half', (req, res) => {
      req.resume();
      res.writeHead(200, { 'content-length': '100' });
      res.write('partial', () => res.socket?.destroy());
    });
    const { router, port } = await setup();
    try {
      router.setRoute('m', { kind: 'serving', upstreams: [half.upstream()] });
      const outcome = await new Promise<string>((resolve) => {
        http
          .get({ host: '127.0.0.1', port, headers: { host: 'm.localhost' }, agent: false }, (res) => {
            res.on('data', () => {});
            res.on('end', () => resolve('complete'));
            res.on('error', () => resolve('aborted'));
            res.on('aborted', () => resolve('aborted'));
          })
          .on('error', () => resolve('aborted'));
      });
      assert.equal(outcome, 'aborted');
      await waitFor('in-flight to drop to zero', () => router.inflight('half') === 0);
    } finally {
      await router.close();
      await half.kill();
    }
  });

  it('loses no GET when one of two upstreams is killed under steady load', async () => {
    // a little simulated work so requests overlap; upstream a dies while it holds its
    // 75th request unanswered, so at least that one is in flight at the moment of the kill
    let killed = false;
    let aCount = 0;
    const a = await startUpstream('a', (req, res, self) => {
      req.resume();
      if (++aCount === 75) {
        killed = true;
        void self.kill();
        return;
      }
      setTimeout(() => res.end('a'), 2);
    });
    const b = await startUpstream('b', (req, res) => {
      req.resume();
      setTimeout(() => res.end('b'), 2);
    });
    const { router, port } = await setup();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    try {
      router.setRoute('k', { kind: 'serving', upstreams: [a.upstream(), b.upstream()] });
      const TOTAL = 600;
      let done = 0;
      let started = 0;
      const failures: string[] = [];
      const worker = async () => {
        while (started < TOTAL) {
          started++;
          try {
            const r = await request({ port, host: 'k.localhost', agent });
            if (r.status !== 200) failures.push(`${r.status} ${r.body}`);
          } catch (e) {
            failures.push((e as Error).message);
          }
          done++;
        }
      };
      await Promise.all(Array.from({ length: 8 }, worker));
      assert.equal(killed, true);
      assert.deepEqual(failures, []);
      assert.equal(done, TOTAL);
      assert.ok(router.metrics().apps['k'].retries >= 1, 'some requests were retried');
    } finally {
      agent.destroy();
      await router.close();
      await b.kill();
    }
  });
});
