import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkPrice, costOf, dayOf, parseSince } from './usage.js';

test('parseSince takes minutes, hours or days back, 1m to 3650d, and refuses the rest naming the flag', () => {
  assert.equal(parseSince('30d'), 30 * 86_400_000);
  assert.equal(parseSince('12h'), 12 * 3_600_000);
  assert.equal(parseSince('90m'), 90 * 60_000);
  for (const bad of ['abc', '', '0m', '3651d', '-1d', '1.5d', '10s', '30 days', '1e3d']) {
    assert.throws(() => parseSince(bad), /--since must be a time back from now like 30d, 12h or 90m \(1m to 3650d\)/, bad);
  }
});

test('checkPrice takes a number from 0 to 1000 and refuses a negative or non-number', () => {
  assert.equal(checkPrice('0.000012'), 0.000012);
  assert.equal(checkPrice(0), 0);
  assert.equal(checkPrice('1e-5'), 0.00001);
  for (const bad of ['-0.01', '-1', 'abc', '', '1001', 'NaN', 'Infinity', '0x10', -2, Number.NaN]) {
    assert.throws(() => checkPrice(bad), /--price-per-instance-second must be a number from 0 to 1000/, String(bad));
  }
});

test('costOf rounds to a millionth; no price, no cost; dayOf is the UTC day', () => {
  assert.equal(costOf(3600, 0.00001), 0.036);
  assert.equal(costOf(1, 0.0000001), 0);
  assert.equal(costOf(10, null), null);
  assert.equal(dayOf(Date.UTC(2026, 11, 1, 23, 59)), '2026-12-01');
});
