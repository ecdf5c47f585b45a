// The dashboard's series recorder reads the router's counters every sample: a thousand routed
// apps that were never sent a request must not be copied each time (idle apps cost nothing).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SeriesRecorder } from '../api/series.js';
import { Router } from './router.js';
import { request, startUpstream } from './test-support.js';

test('metrics({ answeredOnly }) leaves out apps never sent a request; a series sample over 1,000 such apps records nothing', async (t) => {
  const router = new Router({ port: 0, host: '127.0.0.1' });
  const { port } = await router.listen();
  const up = await startUpstream('w1');
  t.after(async () => {
    await router.close(1000);
    await up.kill();
  });
  for (let i = 0; i < 1000; i++) router.setRoute(`app-${i}`, { kind: 'serving', upstreams: [] });
  router.setRoute('busy', { kind: 'serving', upstreams: [up.upstream()] });
  assert.equal(Object.keys(router.metrics().apps).length, 1001, 'the scrape still sees every app');
  assert.deepEqual(Object.keys(router.metrics({ answeredOnly: true }).apps), []);
  const r = new SeriesRecorder({ instances: () => [], metrics: () => router.metrics({ answeredOnly: true }), intervalMs: 1000 });
  r.sample();
  r.sample();
  for (let i = 0; i < 1000; i++) assert.deepEqual(r.get(`app-${i}`), []);

  assert.equal((await request({ port, host: 'busy.localhost', path: '/' })).status, 200);
  assert.deepEqual(Object.keys(router.metrics({ answeredOnly: true }).apps), ['busy']);
  r.sample();
  assert.equal(r.get('busy').length, 1, 'an app with traffic gets its point');
});
