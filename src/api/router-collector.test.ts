import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { AppMetrics, type RouterMetrics } from '../router/metrics.js';
import { registerRouterMetrics } from './router-collector.js';

function setup() {
  const web = new AppMetrics();
  let snapshots = 0;
  const reg = new Registry();
  registerRouterMetrics(reg, {
    metrics: (): RouterMetrics => {
      snapshots += 1;
      return { apps: { web: web.snapshot() }, unrouted: 2 };
    },
    appStats: () => ({ inflight: 3, held: 4 }),
  });
  return { web, reg, snapshots: () => snapshots };
}

test('requests by status class, the latency histogram and the router counters, per app', async () => {
  const { web, reg } = setup();
  web.status(200, 0.0004);
  web.status(204, 0.003);
  web.status(503, 12);
  web.retries = 1;
  web.held = 6;
  web.wakes = 2;
  web.wake(120);
  const text = await reg.metrics();
  assert.match(text, /^# TYPE summon_http_requests_total counter$/m);
  assert.match(text, /^summon_http_requests_total\{app="web",status="2xx"\} 2$/m);
  assert.match(text, /^summon_http_requests_total\{app="web",status="5xx"\} 1$/m);
  assert.match(text, /^summon_http_requests_total\{app="web",status="4xx"\} 0$/m);
  assert.match(text, /^# TYPE summon_http_request_duration_seconds histogram$/m);
  assert.match(text, /^summon_http_request_duration_seconds_bucket\{app="web",le="0.0005"\} 1$/m);
  assert.match(text, /^summon_http_request_duration_seconds_bucket\{app="web",le="0.005"\} 2$/m);
  assert.match(text, /^summon_http_request_duration_seconds_bucket\{app="web",le="10"\} 2$/m, '12 s is past the last bound');
  assert.match(text, /^summon_http_request_duration_seconds_bucket\{app="web",le="\+Inf"\} 3$/m);
  assert.match(text, /^summon_http_request_duration_seconds_count\{app="web"\} 3$/m);
  assert.match(text, /^summon_router_retries_total\{app="web"\} 1$/m);
  assert.match(text, /^summon_router_held_total\{app="web"\} 6$/m);
  assert.match(text, /^summon_cold_starts_total\{app="web"\} 2$/m);
  assert.match(text, /^summon_wake_latency_seconds_bucket\{app="web",le="0.25"\} 1$/m);
  assert.match(text, /^summon_router_unrouted_requests_total 2$/m);
  assert.match(text, /^# TYPE summon_router_held_requests gauge$/m);
  assert.match(text, /^summon_router_held_requests\{app="web"\} 4$/m);
  assert.match(text, /^summon_router_inflight_requests\{app="web"\} 3$/m);
});

test('one router snapshot per scrape, read afresh by the next', async () => {
  const { web, reg, snapshots } = setup();
  await reg.metrics();
  assert.equal(snapshots(), 1, 'every family of a scrape reads the same snapshot');
  web.status(200, 0.001);
  const text = await reg.metrics();
  assert.equal(snapshots(), 2);
  assert.match(text, /^summon_http_requests_total\{app="web",status="2xx"\} 1$/m);
  assert.match(text, /^summon_http_request_duration_seconds_count\{app="web"\} 1$/m);
});
