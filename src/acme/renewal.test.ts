import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bestCert, covers, nextOrder, renewAt, retryDelayMs } from './renewal.js';

const DAY = 86_400_000;

test('renewAt: a third of the lifetime before expiry (90 days: at 60)', () => {
  assert.equal(renewAt({ notBefore: 0, notAfter: 90 * DAY }), 60 * DAY);
  assert.equal(renewAt({ notBefore: 1000, notAfter: 31_000 }), 21_000);
  assert.equal(renewAt({ notBefore: 10, notAfter: 10 }), 10);
});

test('covers and bestCert: exact and one-label wildcards; the one that covers all and expires last', () => {
  assert.ok(covers('www.example.com', 'WWW.example.com'));
  assert.ok(covers('*.example.com', 'a.example.com'));
  assert.ok(!covers('*.example.com', 'example.com'));
  assert.ok(!covers('*.example.com', 'a.b.example.com'));
  const a = { hosts: ['a.test'], notBefore: 0, notAfter: 100 };
  const ab = { hosts: ['a.test', 'b.test'], notBefore: 0, notAfter: 50 };
  const ab2 = { hosts: ['*.test'], notBefore: 0, notAfter: 80 };
  assert.equal(bestCert([a, ab, ab2], ['a.test', 'b.test'], 10), ab2);
  assert.equal(bestCert([a, ab], ['a.test', 'b.test'], 60), undefined, 'an expired one does not count');
});

test('nextOrder: the table of cases', () => {
  const now = 1_000 * DAY;
  const cert = { hosts: ['a.test'], notBefore: now - 10 * DAY, notAfter: now + 80 * DAY };
  const cases: [string, Parameters<typeof nextOrder>[0], ReturnType<typeof nextOrder>][] = [
    ['no domains', { domains: [], certs: [], failure: null, now }, { kind: 'none', reason: 'the app has no custom domain' }],
    ['no certificate: now', { domains: ['a.test'], certs: [], failure: null, now }, { kind: 'order', at: now, why: 'no-cert' }],
    ['a valid one: at its renewal point', { domains: ['a.test'], certs: [cert], failure: null, now }, { kind: 'order', at: now + 50 * DAY, why: 'renew' }],
    ['a new domain it does not cover: now', { domains: ['a.test', 'b.test'], certs: [cert], failure: null, now }, { kind: 'order', at: now, why: 'no-cert' }],
    ['expired: now', { domains: ['a.test'], certs: [{ ...cert, notAfter: now - 1 }], failure: null, now }, { kind: 'order', at: now, why: 'no-cert' }],
    ['failed twice a minute ago, no certificate: 2 min after', { domains: ['a.test'], certs: [], failure: { failures: 2, at: now - 60_000 }, now }, { kind: 'order', at: now + 60_000, why: 'retry' }],
    ['failed, a certificate not due yet: its renewal point', { domains: ['a.test'], certs: [cert], failure: { failures: 1, at: now }, now }, { kind: 'order', at: now + 50 * DAY, why: 'retry' }],
  ];
  for (const [what, input, want] of cases) assert.deepEqual(nextOrder(input), want, what);
  // Backoff past the renewal point is capped an hour before expiry.
  const late = { ...cert, notBefore: now - 89 * DAY, notAfter: now + 1.5 * 3_600_000 };
  const d = nextOrder({ domains: ['a.test'], certs: [late], failure: { failures: 20, at: now }, now });
  assert.deepEqual(d, { kind: 'order', at: late.notAfter - 3_600_000, why: 'retry' });
});

test('retryDelayMs: 1 min doubling to 6 h', () => {
  assert.deepEqual([1, 2, 3, 4].map((n) => retryDelayMs(n)), [60_000, 120_000, 240_000, 480_000]);
  assert.equal(retryDelayMs(100), 6 * 3_600_000);
  assert.equal(retryDelayMs(3, 10, 1000), 40);
});
