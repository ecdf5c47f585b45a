import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appBadge, bytes, chartSpan, duration, mib, span } from './format.js';

test('memory and sizes are in binary units and say so (MiB, KiB)', () => {
  assert.equal(mib(128 * 2 ** 20), '128.0 MiB');
  assert.equal(mib(56_098_816), '53.5 MiB');
  assert.equal(mib(null), '–');
  assert.equal(bytes(512), '512 B');
  assert.equal(bytes(1536), '1.5 KiB');
  assert.equal(bytes(3 * 2 ** 20), '3.0 MiB');
});

test('the charts say the span their samples cover, "Last hour" only once they cover it', () => {
  const now = 10 * 3_600_000;
  const from = (ago: number) => [{ at: now - ago }, { at: now - 1000 }];
  assert.equal(chartSpan([], now), 'No samples yet');
  assert.equal(chartSpan(from(40_000), now), 'Last 40 s');
  assert.equal(chartSpan(from(4 * 60_000), now), 'Last 4 min');
  assert.equal(chartSpan(from(58 * 60_000), now), 'Last 58 min');
  assert.equal(chartSpan(from(59 * 60_000), now), 'Last hour');
  // points older than the hour are not charted, so they do not count
  assert.equal(chartSpan([{ at: now - 5 * 3_600_000 }, { at: now - 120_000 }], now), 'Last 2 min');
  assert.equal(span(89_000), '89 s');
  assert.equal(span(90_000), '2 min');
  assert.equal(span(2 * 3_600_000 + 5 * 60_000), '2 h 5 min');
});

test('an app whose every release failed is red ("failed"), not grey; other states keep their tone', () => {
  assert.deepEqual(appBadge('no-release', { status: 'failed', reason: 'test failed\nline 2' }), { label: 'failed', tone: 'bad', title: 'test failed\nline 2' });
  assert.deepEqual(appBadge('no-release', null), { label: 'no-release', tone: '', title: undefined });
  assert.deepEqual(appBadge('no-release', { status: 'building', reason: null }), { label: 'no-release', tone: '', title: undefined });
  // a live app whose newest push failed keeps serving: it stays green
  assert.equal(appBadge('running', { status: 'failed', reason: 'x' }).tone, 'ok');
  assert.equal(appBadge('crashed', null).tone, 'bad');
});

test('durations are written as summon.toml takes them', () => {
  assert.equal(duration(0), 'never');
  assert.equal(duration(30_000), '30s');
  assert.equal(duration(300_000), '5m');
  assert.equal(duration(7_200_000), '2h');
});
