import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planAutoscale, shouldIdle, type CpuSample } from './autoscale.js';

const policy = { min: 1, max: 4, targetCpu: 0.5, idleTimeoutMs: 2000 };
const windows = { outMs: 3000, inMs: 10_000, cooldownMs: 3000 };
const series = (from: number, to: number, cpu: number, n = 1): CpuSample[] => {
  const out: CpuSample[] = [];
  for (let t = from; t <= to; t += 1000) out.push({ at: t, avgCpu: cpu, instances: n });
  return out;
};

test('scales out when CPU stays above target for the out window, capped at max', () => {
  const d = planAutoscale({ policy, desired: 1, samples: series(0, 10_000, 0.95), lastScaleAt: null, now: 10_000, windows });
  assert.equal(d?.direction, 'out');
  assert.equal(d?.desired, 2);
  assert.match(d!.reason, /95% above target 50%/);
  const capped = planAutoscale({ policy, desired: 3, samples: series(0, 10_000, 5), lastScaleAt: null, now: 10_000, windows });
  assert.equal(capped?.desired, 4);
  assert.equal(planAutoscale({ policy, desired: 4, samples: series(0, 10_000, 5), lastScaleAt: null, now: 10_000, windows }), null);
});

test('a short spike or a cooldown does not scale out', () => {
  const spike = [...series(0, 8000, 0.1), ...series(9000, 10_000, 0.99)];
  assert.equal(planAutoscale({ policy, desired: 1, samples: spike, lastScaleAt: null, now: 10_000, windows }), null);
  assert.equal(planAutoscale({ policy, desired: 1, samples: series(0, 10_000, 0.99), lastScaleAt: 9000, now: 10_000, windows }), null);
});

test('scales in only after the stabilisation window, never below min', () => {
  const quietShort = [...series(0, 5000, 0.9, 3), ...series(6000, 12_000, 0.05, 3)];
  assert.equal(planAutoscale({ policy, desired: 3, samples: quietShort, lastScaleAt: null, now: 12_000, windows }), null);
  const quiet = series(0, 20_000, 0.05, 3);
  const d = planAutoscale({ policy, desired: 3, samples: quiet, lastScaleAt: null, now: 20_000, windows });
  assert.equal(d?.direction, 'in');
  assert.equal(d?.desired, 1);
  assert.equal(planAutoscale({ policy, desired: 1, samples: quiet, lastScaleAt: null, now: 20_000, windows }), null);
});

test('idles only with min 0, no in-flight request and the timeout passed', () => {
  const p0 = { ...policy, min: 0 };
  assert.equal(shouldIdle(p0, 1, 0, 0, 2000), true);
  assert.equal(shouldIdle(p0, 1, 0, 1, 2000), false);
  assert.equal(shouldIdle(p0, 1, 500, 0, 2000), false);
  assert.equal(shouldIdle(policy, 1, 0, 0, 99_999), false);
  assert.equal(shouldIdle(p0, 0, 0, 0, 99_999), false);
});

test('a manual scale is not undone sooner than the scale-in window after it (regression: ps:scale 3 undone 0.5 s later)', () => {
  // An idle app at 1 for a long time; the user scales to 3 at t = 60 s.
  const before = series(0, 60_000, 0.0, 1);
  const manualAt = 60_000;
  for (const now of [60_500, 65_000, 69_999]) {
    const after = [...before, ...series(61_000, now, 0.0, 3)];
    assert.equal(planAutoscale({ policy, desired: 3, samples: after, lastScaleAt: null, manualAt, now, windows }), null, `no scale-in at ${now}`);
  }
  // Without the manual mark, the old samples alone would have scaled straight back in.
  assert.equal(planAutoscale({ policy, desired: 3, samples: before, lastScaleAt: null, now: 60_500, windows })?.direction, 'in');
  // A full scale-in window after the change, still quiet: now it may scale in, on samples at 3.
  const later = [...before, ...series(61_000, 71_000, 0.0, 3)];
  const d = planAutoscale({ policy, desired: 3, samples: later, lastScaleAt: null, manualAt, now: 71_000, windows });
  assert.equal(d?.direction, 'in');
  assert.equal(d?.desired, 1);
  // Load measured after the change still scales out once the (short) out window is covered.
  const busy = [...before, ...series(61_000, 64_000, 0.99, 3)];
  assert.equal(planAutoscale({ policy, desired: 3, samples: busy, lastScaleAt: null, manualAt, now: 62_000, windows }), null, 'out window not yet covered');
  assert.equal(planAutoscale({ policy, desired: 3, samples: busy, lastScaleAt: null, manualAt, now: 64_000, windows })?.direction, 'out');
});
