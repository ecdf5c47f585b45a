import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Instance, SummonEvent } from '../core/types.js';
import { AppMetrics, type RouterMetrics } from '../router/metrics.js';
import { promtoolCheck } from '../testing/promtool.js';
import { SummonMetrics } from './metrics-registry.js';

const inst = (app: string, id: string, state: Instance['state'], cpu: number | null, memoryBytes: number | null): Instance => ({
  id, app, version: 1, host: 'h', state, address: '127.0.0.1', port: 1, pid: 1,
  startedAt: 0, healthyAt: 0, restarts: 0, reason: null, nextRetryAt: null, cpu, memoryBytes, updatedAt: 0,
});
const ev = (app: string, type: string, data: Record<string, unknown>, at = 0): SummonEvent => ({ id: 1, app, type, message: type, data, at });

function summon(o: { instances?: Instance[]; hosts?: { id: string; up: boolean }[]; apps?: Record<string, AppMetrics> } = {}) {
  const apps = o.apps ?? {};
  return new SummonMetrics({
    router: {
      metrics: (): RouterMetrics => ({ apps: Object.fromEntries(Object.entries(apps).map(([k, m]) => [k, m.snapshot()])), unrouted: 0 }),
      appStats: () => ({ inflight: 0, held: 1 }),
    },
    instances: () => o.instances ?? [],
    hosts: () => o.hosts ?? [],
  });
}

test('instances by app and state, their CPU and memory, and hosts up or down', async () => {
  const m = summon({
    instances: [inst('web', 'web-1', 'healthy', 0.25, 1024), inst('web', 'web-2', 'healthy', null, null), inst('web', 'web-3', 'starting', null, 2048)],
    hosts: [{ id: 'local', up: true }, { id: 'edge', up: false }],
  });
  const t = await m.text();
  assert.match(t, /^summon_instances\{app="web",state="healthy"\} 2$/m);
  assert.match(t, /^summon_instances\{app="web",state="starting"\} 1$/m);
  assert.match(t, /^summon_instance_cpu_cores\{app="web",instance="web-1"\} 0.25$/m);
  assert.doesNotMatch(t, /summon_instance_cpu_cores\{app="web",instance="web-2"\}/, 'no sample, no series');
  assert.match(t, /^summon_instance_memory_bytes\{app="web",instance="web-3"\} 2048$/m);
  assert.match(t, /^summon_host_up\{host="local"\} 1$/m);
  assert.match(t, /^summon_host_up\{host="edge"\} 0$/m);
});

test('a state with no instance left is gone at the next scrape', async () => {
  const instances = [inst('web', 'web-1', 'starting', null, null)];
  const m = summon({ instances });
  assert.match(await m.text(), /^summon_instances\{app="web",state="starting"\} 1$/m);
  instances[0] = inst('web', 'web-1', 'healthy', null, null);
  const t = await m.text();
  assert.doesNotMatch(t, /state="starting"/);
  assert.match(t, /^summon_instances\{app="web",state="healthy"\} 1$/m);
});

test('two Summons in one process keep their own metrics; process metrics are prefixed summon_', async () => {
  const a = summon();
  const b = summon();
  a.observe(ev('web', 'build.succeeded', { durationMs: 10 }));
  assert.match(await a.text(), /^summon_builds_total\{app="web",result="succeeded"\} 1$/m);
  const tb = await b.text();
  assert.doesNotMatch(tb, /summon_builds_total\{/);
  for (const name of ['summon_process_cpu_seconds_total', 'summon_process_resident_memory_bytes', 'summon_nodejs_eventloop_lag_seconds', 'summon_nodejs_heap_size_used_bytes']) {
    assert.match(tb, new RegExp(`^# TYPE ${name} `, 'm'), name);
  }
  assert.doesNotMatch(tb, /^# TYPE (?!summon_)/m, 'every family is Summon\'s');
  assert.match(a.contentType, /^text\/plain; version=0\.0\.4/);
});

test('promtool check metrics finds no problem in the exposition, label values that need escaping included', async () => {
  const web = new AppMetrics();
  web.status(200, 0.002);
  web.status(502, 0.3);
  web.wake(40);
  const m = summon({
    apps: { web, 'we"ird\\app\n': new AppMetrics() },
    instances: [inst('web', 'web-1', 'healthy', 0.1, 1 << 20)],
    hosts: [{ id: 'local', up: true }],
  });
  m.observe(ev('web', 'build.succeeded', { durationMs: 900 }));
  m.observe(ev('web', 'deploy.started', { version: 1 }, 0));
  m.observe(ev('web', 'release.live', { version: 1 }, 250));
  m.observe(ev('web', 'instance.crashed', { cause: 'exit' }));
  const text = await m.text();
  const r = await promtoolCheck(text);
  assert.equal(r.output, '', 'promtool prints nothing for a clean exposition');
  assert.equal(r.code, 0);
});
