import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AuthLimiter } from './auth-limiter.js';

test('a handful of failures per address, then a wait that refills one at a time; other addresses unaffected', () => {
  let t = 1_000_000;
  const l = new AuthLimiter({ burst: 5, windowMs: 60_000, now: () => t });
  for (let i = 0; i < 5; i++) {
    assert.equal(l.retryAfter('10.0.0.1'), 0, `failure ${i + 1} is still checked`);
    l.failed('10.0.0.1');
  }
  assert.equal(l.retryAfter('10.0.0.1'), 12, 'one failure refills in 60 s / 5');
  assert.equal(l.retryAfter('10.0.0.2'), 0);
  t += 6_000;
  assert.equal(l.retryAfter('10.0.0.1'), 6);
  t += 6_000;
  assert.equal(l.retryAfter('10.0.0.1'), 0, 'one more try after the wait');
  l.failed('10.0.0.1');
  assert.equal(l.retryAfter('10.0.0.1'), 12, 'and then the wait again');
});

test('an IPv6 client is counted by its /64, an IPv4-mapped one as its IPv4 address', () => {
  const l = new AuthLimiter({ burst: 2, now: () => 0 });
  l.failed('2001:db8:1:2::1');
  l.failed('2001:db8:1:2::ffff');
  assert.ok(l.retryAfter('2001:db8:1:2:aaaa::9') > 0);
  assert.equal(l.retryAfter('2001:db8:1:3::1'), 0);
  l.failed('::ffff:192.0.2.1');
  l.failed('192.0.2.1');
  assert.ok(l.retryAfter('192.0.2.1') > 0);
});

test('memory is bounded: past maxAddresses the refilled, then the oldest, are forgotten', () => {
  let t = 0;
  const l = new AuthLimiter({ burst: 3, windowMs: 3000, maxAddresses: 100, now: () => t });
  for (let i = 0; i < 100; i++) l.failed(`10.1.${i >> 8}.${i & 255}`);
  t += 10_000; // all refilled
  for (let i = 0; i < 150; i++) l.failed(`10.2.${i >> 8}.${i & 255}`);
  assert.ok(l.size() <= 100, String(l.size()));
  l.failed('10.2.0.149');
  l.failed('10.2.0.149');
  assert.ok(l.retryAfter('10.2.0.149') > 0, 'the newest are the ones kept');
});

test('bad options are refused at construction', () => {
  assert.throws(() => new AuthLimiter({ burst: 0 }), /burst/);
  assert.throws(() => new AuthLimiter({ windowMs: 10 }), /windowMs/);
});
