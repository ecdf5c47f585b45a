import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DrainBuffer } from './drain-buffer.js';

const f = (s: string) => ({ data: s, bytes: Buffer.byteLength(s) });

test('bounded by lines: the oldest pending lines are dropped and counted', () => {
  const drops: number[] = [];
  const b = new DrainBuffer({ maxLines: 3, maxBytes: 1024 * 1024, onDrop: (n) => drops.push(n) });
  for (const s of ['a', 'b', 'c', 'd', 'e']) b.push(f(s));
  assert.equal(b.lines, 3);
  assert.equal(b.dropped, 2);
  assert.deepEqual(drops, [1, 1]);
  assert.deepEqual(b.take(10, 1e9).map((l) => l.data), ['c', 'd', 'e'], 'the newest are kept, in order');
});

test('bounded by bytes too', () => {
  const b = new DrainBuffer({ maxLines: 1000, maxBytes: 1024 });
  for (let i = 0; i < 10; i++) b.push(f(`${i}`.padEnd(200, '.')));
  assert.equal(b.lines, 5);
  assert.ok(b.bytes <= 1024);
  assert.equal(b.dropped, 5);
  b.push(f('x'.repeat(2000)));
  assert.equal(b.dropped, 6, 'a line larger than the whole buffer is dropped, not the buffer emptied for it');
  assert.equal(b.lines, 5);
});

test('a failed attempt puts its lines back in front; a confirmed one forgets them', () => {
  const b = new DrainBuffer({ maxLines: 100, maxBytes: 1024 * 1024 });
  for (const s of ['a', 'b', 'c', 'd']) b.push(f(s));
  assert.deepEqual(b.take(2, 1e9).map((l) => l.data), ['a', 'b']);
  assert.deepEqual([b.inFlight, b.pending], [2, 2]);
  assert.equal(b.requeue(), 0);
  assert.deepEqual(b.take(3, 1e9).map((l) => l.data), ['a', 'b', 'c'], 'resent first, in order');
  assert.equal(b.confirmInFlight(), 3);
  assert.deepEqual([b.lines, b.delivered, b.dropped], [1, 3, 0]);
  assert.deepEqual(b.take(5, 1e9).map((l) => l.data), ['d']);
});

test('take bounds a batch by bytes but always takes one line', () => {
  const b = new DrainBuffer({ maxLines: 100, maxBytes: 1024 * 1024 });
  for (let i = 0; i < 5; i++) b.push(f('x'.repeat(100)));
  assert.equal(b.take(100, 250).length, 2);
  assert.equal(b.take(100, 10).length, 1);
});

test('syslog: written lines count as delivered once old enough; the young ones are resent after a break', () => {
  const b = new DrainBuffer({ maxLines: 100, maxBytes: 1024 * 1024 });
  for (const s of ['a', 'b', 'c']) b.push(f(s));
  const sent = b.take(10, 1e9);
  sent[0].sentAt = 1000;
  sent[1].sentAt = 2000;
  sent[2].sentAt = 3000;
  assert.equal(b.confirmSentBefore(2000), 2);
  assert.equal(b.delivered, 2);
  b.requeue();
  assert.deepEqual(b.take(10, 1e9).map((l) => [l.data, l.sentAt]), [['c', 0]]);
});

test('lines pushed out while in flight: delivered if the attempt succeeds, dropped if it fails', () => {
  const b = new DrainBuffer({ maxLines: 2, maxBytes: 1024 * 1024 });
  b.push(f('a'));
  b.push(f('b'));
  b.take(2, 1e9);
  b.push(f('c'));
  b.push(f('d')); // a and b leave while in flight
  assert.deepEqual([b.lines, b.inFlight, b.dropped], [2, 0, 0]);
  b.requeue();
  assert.equal(b.dropped, 2, 'the attempt failed: a and b never arrived');

  const ok = new DrainBuffer({ maxLines: 2, maxBytes: 1024 * 1024 });
  ok.push(f('a'));
  ok.push(f('b'));
  ok.take(2, 1e9);
  ok.push(f('c'));
  ok.confirmInFlight();
  assert.deepEqual([ok.delivered, ok.dropped], [2, 0], 'a left while in flight, b was still there: both arrived');

  // lines already handed over for good (written to a socket) are counted as sent when pushed out
  const s = new DrainBuffer({ maxLines: 1, maxBytes: 1024 * 1024 });
  s.push(f('a'));
  s.take(1, 1e9)[0].sentAt = 5;
  s.push(f('b'));
  s.requeue();
  assert.deepEqual([s.delivered, s.dropped], [1, 0]);
});

test('a long run stays compact and in order', () => {
  const b = new DrainBuffer({ maxLines: 10_000, maxBytes: 64 * 1024 * 1024 });
  let last = -1;
  for (let i = 0; i < 200_000; i++) {
    b.push(f(String(i)));
    if (i % 7 === 0) {
      for (const l of b.take(5, 1e9)) {
        assert.ok(Number(l.data) > last, 'oldest first, never twice');
        last = Number(l.data);
      }
      b.confirmInFlight();
    }
  }
  assert.ok(b.lines > 9_990 && b.lines <= 10_000);
  assert.equal(b.delivered + b.dropped + b.lines, 200_000, 'every line delivered, dropped or held');
});
