import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WakeLimiter } from './dns-wake.js';

function limiter(wake: (app: string) => unknown, maxApps?: number) {
  const clock = { t: 1000 };
  const errors: string[] = [];
  const l = new WakeLimiter({ wake, intervalMs: 1000, now: () => clock.t, onError: (app, e) => errors.push(`${app}: ${(e as Error).message}`), maxApps });
  return { l, clock, errors };
}

test('a synchronous wake: once per interval per app, whatever the number of lookups', () => {
  const calls: string[] = [];
  const { l, clock } = limiter((app) => calls.push(app));
  for (let i = 0; i < 1000; i++) l.request('blog');
  l.request('shop');
  assert.deepEqual(calls, ['blog', 'shop']);
  clock.t += 999;
  l.request('blog');
  assert.deepEqual(calls, ['blog', 'shop']);
  clock.t += 1;
  assert.equal(l.request('blog'), true);
  assert.deepEqual(calls, ['blog', 'shop', 'blog']);
});

test('an async wake: none other for that app while it is in flight, however long it takes', async () => {
  let finish!: () => void;
  let calls = 0;
  const { l, clock } = limiter(() => {
    calls++;
    return new Promise<void>((r) => (finish = r));
  });
  l.request('blog');
  clock.t += 10_000;
  for (let i = 0; i < 100; i++) l.request('blog');
  assert.equal(calls, 1);
  finish();
  await Promise.resolve();
  await Promise.resolve();
  l.request('blog');
  assert.equal(calls, 2);
});

test('a wake that never settles stops holding back after 30 s', () => {
  let calls = 0;
  const { l, clock } = limiter(() => {
    calls++;
    return new Promise(() => {});
  });
  l.request('blog');
  clock.t += 29_999;
  l.request('blog');
  assert.equal(calls, 1);
  clock.t += 1;
  l.request('blog');
  assert.equal(calls, 2);
});

test('a throwing or rejecting wake is reported, and the next one still happens after the interval', async () => {
  let mode: 'throw' | 'reject' = 'throw';
  const { l, clock, errors } = limiter(() => {
    if (mode === 'throw') throw new Error('boom');
    return Promise.reject(new Error('later'));
  });
  l.request('blog');
  clock.t += 1000;
  mode = 'reject';
  l.request('blog');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(errors, ['blog: boom', 'blog: later']);
});

test('the table is bounded: full of recent wakes, a new app waits; expired entries make room', () => {
  const calls: string[] = [];
  const { l, clock } = limiter((app) => calls.push(app), 2);
  l.request('a');
  l.request('b');
  assert.equal(l.request('c'), false, 'no room: every tracked wake is recent');
  clock.t += 1000;
  assert.equal(l.request('c'), true);
  assert.deepEqual(calls, ['a', 'b', 'c']);
});
