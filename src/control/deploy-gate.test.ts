// The controller's deploy gate ([test].smoke): a release's healthy instance is kept out of the
// route table, and nothing old is drained for it, until the gate says yes; a no fails the
// rollout with the gate's reason and the live release keeps serving. Real SQLite store, an
// in-tree fake host whose instance statuses the test reports, a router port that records.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DesiredInstance } from '../agent/agent.js';
import type { HostAgent, HostLink } from '../agent/host-agent.js';
import type { Instance, Manifest, Release, RuntimeCapability, Target } from '../core/types.js';
import { createSqliteStore } from '../store/sqlite.js';
import { waitFor } from '../testing/wait.js';
import { Controller, type RouterPort } from './controller.js';
import { EventBus } from './event-bus.js';
import { LogStore } from './log-store.js';
import { Secrets } from './secrets.js';

class FakeHost implements HostAgent {
  readonly hostId = 'local';
  desired: DesiredInstance[] = [];
  async setDesired(list: DesiredInstance[]): Promise<void> {
    this.desired = list;
  }
  desiredSet(): DesiredInstance[] {
    return this.desired;
  }
  instances(): Instance[] {
    return [];
  }
  async capabilities(): Promise<RuntimeCapability[]> {
    return [{ target: 'process', available: true, reason: 'fake' }];
  }
  offers(target: Target): boolean {
    return target === 'process';
  }
  link(): HostLink {
    return { state: 'local', address: '127.0.0.1', since: 0 };
  }
}

const BASE: Manifest = {
  build: { artifact: 'app', timeoutMs: 60_000, toolchain: [] },
  run: { target: 'process', args: [], port: 8080, memoryBytes: 64 << 20 },
  health: { kind: 'tcp', intervalMs: 1000, timeoutMs: 1000, healthyThreshold: 1, unhealthyThreshold: 3, graceMs: 60_000 },
  scale: { min: 1, max: 3, targetCpu: 0.5, idleTimeoutMs: 0 },
  deploy: { maxSurge: 1, maxUnavailable: 0, drainTimeoutMs: 0 },
};
const SMOKE: Manifest = { ...BASE, test: { smoke: ['true'], timeoutMs: 10_000 } };

async function rig(t: { after: (fn: () => Promise<void>) => void }) {
  const dir = await mkdtemp(join(tmpdir(), 'summon-gate-'));
  const store = await createSqliteStore(join(dir, 'summon.db'));
  const secrets = await Secrets.open(dir, 'a'.repeat(64));
  const events = new EventBus({ store, logs: new LogStore({ dir: join(dir, 'logs') }), now: Date.now });
  await store.createApp('web', Date.now());
  const v1 = await store.createRelease('web', {
    status: 'live', description: 'v1', reason: null, commit: null, artifactSha256: 'e'.repeat(64), initrdSha256: null,
    manifest: BASE, buildManifest: null, configCipher: secrets.encrypt({}),
  }, Date.now());
  await store.updateApp('web', { liveVersion: v1.version, desiredCount: 1 });
  const routes: string[][] = [];
  const router: RouterPort = {
    setRoute: (_app, r) => routes.push(r.kind === 'serving' ? r.upstreams.map((u) => u.id) : []),
    deleteRoute: () => {}, inflight: () => 0, appStats: () => ({ inflight: 0, held: 0, lastRequestAt: null }),
  };
  const host = new FakeHost();
  const controller = new Controller({ store, agents: [host], router, events, secrets, tickMs: 5 });
  t.after(async () => {
    await controller.close();
    await events.drained();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  const healthy = (d: DesiredInstance, port: number) => controller.onInstanceStatus({
    id: d.id, app: d.app, version: d.version, host: 'local', state: 'healthy', address: '127.0.0.1', port,
    pid: 1, startedAt: Date.now(), healthyAt: Date.now(), restarts: 0, reason: null, nextRetryAt: null, cpu: 0, memoryBytes: 1, updatedAt: Date.now(),
  });
  await controller.start();
  await waitFor(() => host.desired.length === 1, { timeoutMs: 5000, what: 'the v1 instance' });
  const old = host.desired[0];
  healthy(old, 40001);
  const v2 = await store.createRelease('web', {
    status: 'ready', description: 'v2', reason: null, commit: null, artifactSha256: 'f'.repeat(64), initrdSha256: null,
    manifest: SMOKE, buildManifest: null, configCipher: secrets.encrypt({}),
  }, Date.now());
  return { store, controller, host, routes, healthy, old, v2, lastRoute: () => routes[routes.length - 1] };
}

/** A gate the test answers: resolves `asked` with what it was asked, waits for `answer`. */
function manualGate() {
  let answer!: (r: { ok: true } | { ok: false; reason: string }) => void;
  let asked!: (a: { release: Release; instance: { id: string; port: number }; signal: AbortSignal }) => void;
  const askedP = new Promise<{ release: Release; instance: { id: string; port: number }; signal: AbortSignal }>((r) => (asked = r));
  let calls = 0;
  const gate = (release: Release, instance: { id: string; address: string; port: number }, signal: AbortSignal) => {
    calls += 1;
    asked({ release, instance, signal });
    return new Promise<{ ok: true } | { ok: false; reason: string }>((r) => (answer = r));
  };
  return { gate, asked: askedP, answer: (r: { ok: true } | { ok: false; reason: string }) => answer(r), calls: () => calls };
}

test('a release with smoke tests takes no traffic and drains nothing until its gate passes', async (t) => {
  const r = await rig(t);
  const g = manualGate();
  r.controller.setDeployGate(g.gate);
  const result = r.controller.deploy(r.v2);
  await waitFor(() => r.host.desired.length === 2, { timeoutMs: 5000, what: 'the v2 instance started beside v1' });
  const fresh = r.host.desired.find((d) => d.version === r.v2.version)!;
  r.healthy(fresh, 40002);
  const asked = await g.asked;
  assert.equal(asked.instance.id, fresh.id);
  assert.equal(asked.instance.port, 40002);
  assert.equal(asked.release.version, r.v2.version);
  // Healthy, yet not routed; the old instance is not drained for it.
  assert.deepEqual(r.lastRoute(), [r.old.id]);
  assert.ok(r.host.desired.some((d) => d.id === r.old.id));
  assert.equal((await r.store.getApp('web'))!.liveVersion, 1);

  g.answer({ ok: true });
  assert.deepEqual(await result, { ok: true });
  assert.ok(r.routes.some((x) => x.includes(fresh.id)), 'the new instance is routed once the gate passed');
  await waitFor(() => !r.host.desired.some((d) => d.id === r.old.id), { timeoutMs: 5000, what: 'v1 drained after the gate' });
  assert.equal((await r.store.getApp('web'))!.liveVersion, r.v2.version);
  assert.equal(g.calls(), 1, 'the gate is asked once per rollout');
});

test('a gate that says no fails the rollout with its reason; the live release keeps serving and was never unrouted', async (t) => {
  const r = await rig(t);
  const g = manualGate();
  r.controller.setDeployGate(g.gate);
  const from = r.routes.length;
  const result = r.controller.deploy(r.v2);
  await waitFor(() => r.host.desired.length === 2, { timeoutMs: 5000, what: 'the v2 instance' });
  const fresh = r.host.desired.find((d) => d.version === r.v2.version)!;
  r.healthy(fresh, 40002);
  const asked = await g.asked;
  g.answer({ ok: false, reason: 'smoke test failed with exit code 1: curl -sf $SUMMON_TEST_URL/ready' });
  const res = await result;
  assert.equal(res.ok, false);
  assert.match(!res.ok ? res.reason : '', /smoke test failed with exit code 1/);
  assert.equal(asked.signal.aborted, true, 'the gate is told the rollout ended');
  const rel = await r.store.getRelease('web', r.v2.version);
  assert.equal(rel!.status, 'failed');
  assert.match(rel!.reason ?? '', /smoke test failed/);
  assert.equal((await r.store.getApp('web'))!.liveVersion, 1);
  assert.ok(r.routes.slice(from).every((x) => x.includes(r.old.id) && !x.includes(fresh.id)), 'v1 in every route, v2 in none');
  await waitFor(() => r.host.desired.length === 1 && r.host.desired[0].id === r.old.id, { timeoutMs: 5000, what: 'the v2 instance stopped' });
});

test('a release without smoke commands is not gated', async (t) => {
  const r = await rig(t);
  const g = manualGate();
  r.controller.setDeployGate(g.gate);
  const plain = await r.store.updateRelease('web', r.v2.version, { manifest: BASE }, Date.now());
  const result = r.controller.deploy(plain);
  await waitFor(() => r.host.desired.length === 2, { timeoutMs: 5000, what: 'the v2 instance' });
  r.healthy(r.host.desired.find((d) => d.version === plain.version)!, 40002);
  assert.deepEqual(await result, { ok: true });
  assert.equal(g.calls(), 0);
});
