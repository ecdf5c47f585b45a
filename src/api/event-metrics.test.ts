import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import type { SummonEvent } from '../core/types.js';
import { EventMetrics } from './event-metrics.js';

let id = 0;
const ev = (app: string | null, type: string, data: Record<string, unknown>, at = 0): SummonEvent => ({ id: ++id, app, type, message: type, data, at });

function setup() {
  const reg = new Registry();
  return { m: new EventMetrics(reg), text: () => reg.metrics() };
}

test('builds by result with their durations; the other result starts at zero', async () => {
  const { m, text } = setup();
  m.observe(ev('web', 'build.succeeded', { durationMs: 1500 }));
  m.observe(ev('web', 'build.succeeded', { durationMs: 40_000 }));
  let t = await text();
  assert.match(t, /^summon_builds_total\{app="web",result="succeeded"\} 2$/m);
  assert.match(t, /^summon_builds_total\{app="web",result="failed"\} 0$/m);
  assert.match(t, /^summon_build_duration_seconds_bucket\{le="2",app="web"\} 1$/m);
  assert.match(t, /^summon_build_duration_seconds_bucket\{le="60",app="web"\} 2$/m);
  assert.match(t, /^summon_build_duration_seconds_sum\{app="web"\} 41.5$/m);
  m.observe(ev('web', 'build.failed', { durationMs: 'not a number' }));
  t = await text();
  assert.match(t, /^summon_builds_total\{app="web",result="failed"\} 1$/m);
  assert.match(t, /^summon_build_duration_seconds_count\{app="web"\} 3$/m);
});

test('rollout duration: deploy.started to release.live or release.failed of the same version', async () => {
  const { m, text } = setup();
  m.observe(ev('web', 'deploy.started', { version: 2 }, 10_000));
  m.observe(ev('web', 'release.live', { version: 2 }, 10_300));
  m.observe(ev('web', 'deploy.started', { version: 3 }, 20_000));
  m.observe(ev('web', 'release.failed', { version: 4 }, 20_100)); // another version's failure (its build): not this rollout
  m.observe(ev('web', 'release.failed', { version: 3 }, 95_000));
  m.observe(ev('web', 'release.live', { version: 3 }, 96_000)); // nothing under way any more
  m.observe(ev('api', 'release.live', { version: 1 }, 1000)); // begun before this process started
  const t = await text();
  assert.match(t, /^summon_rollout_duration_seconds_bucket\{le="0.5",app="web",result="live"\} 1$/m);
  assert.match(t, /^summon_rollout_duration_seconds_sum\{app="web",result="live"\} 0.3$/m);
  assert.match(t, /^summon_rollout_duration_seconds_count\{app="web",result="live"\} 1$/m);
  assert.match(t, /^summon_rollout_duration_seconds_bucket\{le="60",app="web",result="failed"\} 0$/m);
  assert.match(t, /^summon_rollout_duration_seconds_bucket\{le="120",app="web",result="failed"\} 1$/m);
  assert.match(t, /^summon_rollout_duration_seconds_count\{app="web",result="failed"\} 1$/m);
  assert.match(t, /^summon_rollout_duration_seconds_count\{app="api",result="live"\} 0$/m);
});

test('crashes and restarts by reason; an event without a cause counts as a crash', async () => {
  const { m, text } = setup();
  m.observe(ev('web', 'instance.crashed', { cause: 'exit' }));
  m.observe(ev('web', 'instance.crashed', {}));
  m.observe(ev('web', 'instance.crashed', { cause: 'unhealthy' }));
  m.observe(ev('web', 'instance.crashed', { cause: 'start' }));
  const t = await text();
  assert.match(t, /^summon_instance_crashes_total\{app="web"\} 2$/m);
  assert.match(t, /^summon_instance_restarts_total\{app="web",reason="crash"\} 2$/m);
  assert.match(t, /^summon_instance_restarts_total\{app="web",reason="unhealthy"\} 1$/m);
  assert.match(t, /^summon_instance_restarts_total\{app="web",reason="start_failed"\} 1$/m);
});

test('app.destroyed drops the app\'s series; other apps and events without an app are untouched', async () => {
  const { m, text } = setup();
  m.observe(ev('web', 'build.succeeded', { durationMs: 1 }));
  m.observe(ev('api', 'build.succeeded', { durationMs: 1 }));
  m.observe(ev(null, 'host.unreachable', { host: 'edge' }));
  m.observe(ev(null, 'app.destroyed', { app: 'web' }));
  const t = await text();
  assert.doesNotMatch(t, /app="web"/);
  assert.match(t, /^summon_builds_total\{app="api",result="succeeded"\} 1$/m);
  assert.match(t, /^summon_instance_crashes_total\{app="api"\} 0$/m);
  m.observe(ev('web', 'build.failed', { durationMs: 1 }));
  assert.match(await text(), /^summon_builds_total\{app="web",result="succeeded"\} 0$/m, 'a new app of the same name starts from zero');
});
