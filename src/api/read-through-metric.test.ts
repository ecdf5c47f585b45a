import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { Histogram } from '../router/metrics.js';
import { histogramSamples, ReadThroughMetric } from './read-through-metric.js';

test('histogramSamples turns per-bucket counts into cumulative buckets, +Inf, sum and count', () => {
  const h = new Histogram([0.1, 1]);
  for (const s of [0.05, 0.5, 0.5, 3]) h.observe(s);
  const out = histogramSamples('x_seconds', { app: 'web' }, h.snapshot());
  assert.deepEqual(out, [
    { metricName: 'x_seconds_bucket', labels: { app: 'web', le: 0.1 }, value: 1 },
    { metricName: 'x_seconds_bucket', labels: { app: 'web', le: 1 }, value: 3 },
    { metricName: 'x_seconds_bucket', labels: { app: 'web', le: '+Inf' }, value: 4 },
    { metricName: 'x_seconds_sum', labels: { app: 'web' }, value: 4.05 },
    { metricName: 'x_seconds_count', labels: { app: 'web' }, value: 4 },
  ]);
});

test('a ReadThroughMetric is rendered by the Registry from what it reads at scrape time, label values escaped', async () => {
  const reg = new Registry();
  let n = 1;
  new ReadThroughMetric('x_things_total', 'Things.', 'counter', () => [{ labels: { app: 'a"b\\c\nd' }, value: n }]).registerOn(reg);
  assert.equal(await reg.metrics(), '# HELP x_things_total Things.\n# TYPE x_things_total counter\nx_things_total{app="a\\"b\\\\c\\nd"} 1\n');
  n = 5;
  assert.match(await reg.metrics(), /^x_things_total\{app="a\\"b\\\\c\\nd"\} 5$/m);
  reg.resetMetrics(); // the counts are not the Registry's to reset
  assert.match(await reg.metrics(), /\} 5$/m);
});

test('a ReadThroughMetric refuses names Prometheus would, a counter without _total, and no help', () => {
  assert.throws(() => new ReadThroughMetric('x-y', 'h', 'gauge', () => []), /not a valid Prometheus name/);
  assert.throws(() => new ReadThroughMetric('x_things', 'h', 'counter', () => []), /must end in _total/);
  assert.throws(() => new ReadThroughMetric('x_things', ' ', 'gauge', () => []), /needs a help text/);
});
