// The controller on its own: a real SQLite store, in-tree fake hosts (HostAgent) whose link and
// instance statuses the test sets, a fake router port, and a clock the test moves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DesiredInstance } from '../agent/agent.js';
import type { HostAgent, HostLink } from '../agent/host-agent.js';
import type { Arch, Instance, Manifest, RuntimeCapability, SummonEvent, Target } from '../core/types.js';
import { createSqliteStore } from '../store/sqlite.js';
import type { Store } from '../store/store.js';
import { waitFor } from '../testing/wait.js';
import { Controller, type RouterPort } from './controller.js';
import { EventBus } from './event-bus.js';
import { LogStore } from './log-store.js';
import { Secrets } from './secrets.js';

class FakeHost implements HostAgent {
  desired: DesiredInstance[] = [];
  state: HostLink;
  constructor(readonly hostId: string, remote: boolean) {
    this.state = { state: remote ? 'connected' : 'local', address: '127.0.0.1', since: 0 };
  }
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
  /** The architectures its process runtime runs (any, when not set). */
  arches: Arch[] | undefined;
  offers(target: Target, arch?: Arch): boolean {
    return target === 'process' && (!arch || !this.arches || this.arches.includes(arch));
  }
  /** How often the controller looked at the link: it does on every sampling tick. */
  looked = 0;
  link(): HostLink {
    this.looked += 1;
    return this.state;
  }
}

const router: RouterPort = {
  setRoute: () => {}, deleteRoute: () => {}, inflight: () => 0,
  appStats: () => ({ inflight: 1, held: 0, lastRequestAt: null }),
};

const MANIFEST: Manifest = {
  build: { artifact: 'app', timeoutMs: 60_000, toolchain: [] },
  run: { target: 'process', args: [], port: 8080, memoryBytes: 64 << 20 },
  health: { kind: 'tcp', intervalMs: 1000, timeoutMs: 1000, healthyThreshold: 1, unhealthyThreshold: 3, graceMs: 60_000 },
  scale: { min: 1, max: 3, targetCpu: 0.5, idleTimeoutMs: 0 },
  deploy: { maxSurge: 1, maxUnavailable: 0, drainTimeoutMs: 1000 },
};

async function setUp(t: { after: (fn: () => Promise<void>) => void }, hosts: FakeHost[], desiredCount: number) {
  const dir = await mkdtemp(join(tmpdir(), 'summon-controller-'));
  const store: Store = await createSqliteStore(join(dir, 'summon.db'));
  let clock = 1_800_000_000_000;
  const now = () => clock;
  const secrets = await Secrets.open(dir, 'a'.repeat(64));
  const logs = new LogStore({ dir: join(dir, 'logs') });
  const events = new EventBus({ store, logs, now });
  const seen: SummonEvent[] = [];
  events.subscribe((e) => seen.push(e));
  await store.createApp('web', clock);
  const rel = await store.createRelease('web', {
    status: 'live', description: 'test', reason: null, commit: null, artifactSha256: 'e'.repeat(64), initrdSha256: null,
    manifest: MANIFEST, buildManifest: null, configCipher: secrets.encrypt({}),
  }, clock);
  await store.updateApp('web', { liveVersion: rel.version, desiredCount });
  const controller = new Controller({ store, agents: hosts, router, events, secrets, now, tickMs: 5, hostLostAfterMs: 5000 });
  await controller.start();
  t.after(async () => {
    await controller.close();
    await events.drained();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  /** Reports every desired instance of every host as healthy with this CPU. */
  const report = (cpu: number, healthyAt = clock): void => {
    for (const h of hosts) {
      for (const d of h.desired) {
        controller.onInstanceStatus({
          id: d.id, app: d.app, version: d.version, host: h.hostId, state: 'healthy', address: '127.0.0.1', port: 40000,
          pid: 1, startedAt: healthyAt, healthyAt, restarts: 0, reason: null, nextRetryAt: null, cpu, memoryBytes: 1, updatedAt: clock,
        });
      }
    }
  };
  return { controller, store, secrets, seen, report, advance: (ms: number) => (clock += ms), now };
}

test('a host unreachable past hostLostAfterMs loses its instances to reachable hosts', async (t) => {
  const local = new FakeHost('local', false);
  const edge = new FakeHost('edge', true);
  const c = await setUp(t, [local, edge], 2);
  await waitFor(() => local.desired.length === 1 && edge.desired.length === 1, { timeoutMs: 5000, what: 'one instance on each host' });
  c.report(0.1);
  const lostId = edge.desired[0].id;

  edge.state = { state: 'unreachable', address: '127.0.0.1', since: c.now(), error: 'connect ECONNREFUSED' };
  c.advance(1000);
  await waitFor(() => c.seen.find((e) => e.type === 'host.unreachable'), { timeoutMs: 5000, what: 'host.unreachable' });
  assert.equal(c.seen.find((e) => e.type === 'host.unreachable')!.app, null);
  // Within the grace period nothing moves, and ps says why the state may be stale.
  assert.equal(edge.desired.length, 1);
  assert.match(c.controller.instances('web').find((i) => i.id === lostId)!.reason ?? '', /host edge unreachable since/);

  c.advance(5000);
  await waitFor(() => c.seen.find((e) => e.type === 'instance.lost'), { timeoutMs: 5000, what: 'instance.lost' });
  await waitFor(() => local.desired.length === 2 && edge.desired.length === 0, { timeoutMs: 5000, what: 'the replacement on the reachable host' });
  assert.ok(!c.controller.instances('web').some((i) => i.id === lostId));

  edge.state = { state: 'connected', address: '127.0.0.1', since: c.now() };
  c.advance(1000);
  await waitFor(() => c.seen.find((e) => e.type === 'host.connected'), { timeoutMs: 5000, what: 'host.connected' });
  assert.equal(edge.desired.length, 0, 'the host that came back gets nothing back by itself');
});

test('an instance\'s CPU counts for autoscaling only from 2 s after it is healthy', async (t) => {
  const local = new FakeHost('local', false);
  const c = await setUp(t, [local], 1);
  await waitFor(() => local.desired.length === 1, { timeoutMs: 5000, what: 'the first instance' });
  // Just healthy, with its boot's CPU in the last sample: a sampling tick (seen by its
  // metering) decides nothing. One sample above target is enough to scale out otherwise.
  c.report(1.0);
  const metered = c.controller.unflushedUsage('web');
  c.advance(1000);
  await waitFor(() => c.controller.unflushedUsage('web') > metered, { timeoutMs: 5000, what: `a sampling tick (metered ${metered}, now ${c.controller.unflushedUsage('web')}, instances ${JSON.stringify(c.controller.instances('web').map((i) => [i.state, i.pid]))})` });
  assert.equal(c.controller.app('web')!.desiredCount, 1);
  assert.ok(!c.seen.some((e) => e.type === 'scale.out'));
  // Busy for real, past the warm-up: out.
  c.advance(1000);
  c.report(1.0, c.now() - 5000);
  c.advance(1100);
  await waitFor(() => c.controller.app('web')!.desiredCount > 1, { timeoutMs: 5000, what: 'a scale-out once the CPU counts' });
  assert.ok(c.seen.some((e) => e.type === 'scale.out'));
});

test('an instance no reachable host could run stays on its lost host instead of bouncing', async (t) => {
  const local = new FakeHost('local', false);
  const edge = new FakeHost('edge', true);
  local.offers = () => false; // only the edge host has the app's runtime
  const c = await setUp(t, [local, edge], 1);
  await waitFor(() => edge.desired.length === 1, { timeoutMs: 5000, what: 'the instance on the edge host' });
  c.report(0.1);
  const id = edge.desired[0].id;
  edge.state = { state: 'unreachable', address: '127.0.0.1', since: c.now(), error: 'gone' };
  for (let i = 0; i < 3; i++) {
    const before = edge.looked;
    c.advance(6000);
    await waitFor(() => edge.looked > before, { timeoutMs: 5000, what: 'a sampling tick past the lost-host grace' });
  }
  await waitFor(() => c.seen.some((e) => e.type === 'host.unreachable'), { timeoutMs: 5000, what: 'host.unreachable' });
  assert.ok(!c.seen.some((e) => e.type === 'instance.lost'), 'nothing given up: no other host could run it');
  assert.deepEqual(edge.desired.map((d) => d.id), [id]);
  assert.deepEqual(local.desired, []);
});

test('a release\'s [scale].min applies at its deploy (regression: min = 2 was accepted and the app ran 1)', async (t) => {
  const host = new FakeHost('local', false);
  const c = await setUp(t, [host], 1);
  await waitFor(() => host.desired.length === 1, { timeoutMs: 5000, what: 'the live release on one instance' });
  const { store } = c;
  const rel = await store.createRelease('web', {
    status: 'ready', description: 'v2 with min 2', reason: null, commit: null, artifactSha256: 'f'.repeat(64), initrdSha256: null,
    manifest: { ...MANIFEST, scale: { ...MANIFEST.scale, min: 2 } }, buildManifest: null, configCipher: c.secrets.encrypt({}),
  }, c.now());
  void c.controller.deploy(rel);
  await waitFor(() => c.controller.app('web')!.desiredCount === 2, { timeoutMs: 5000, what: 'the count raised to the new min' });
  assert.ok(c.seen.some((e) => e.type === 'deploy.started' && /to 2 instance\(s\)/.test(e.message)), 'the deploy says so');
});

test('placement honours the architecture: an aarch64 release goes only to the host that runs it; none → the rollout fails naming [run].arch and summon hosts', async (t) => {
  const x86 = new FakeHost('x86', false);
  x86.arches = ['x86_64'];
  const arm = new FakeHost('arm', true);
  arm.arches = ['aarch64'];
  const c = await setUp(t, [x86, arm], 1);
  await waitFor(() => x86.desired.length + arm.desired.length === 1, { timeoutMs: 5000, what: 'the live release (no arch) on one host' });
  const armRelease = (version: string) => c.store.createRelease('web', {
    status: 'ready', description: version, reason: null, commit: null, artifactSha256: 'f'.repeat(64), initrdSha256: null,
    manifest: { ...MANIFEST, run: { ...MANIFEST.run, arch: 'aarch64' }, scale: { ...MANIFEST.scale, min: 2 } }, buildManifest: null,
    configCipher: c.secrets.encrypt({}),
  }, c.now());
  const rel = await armRelease('arm64');
  void c.controller.deploy(rel);
  await waitFor(() => arm.desired.filter((d) => d.version === rel.version).length === 2, { timeoutMs: 5000, what: 'both aarch64 instances on the arm host' });
  assert.equal(x86.desired.filter((d) => d.version === rel.version).length, 0, 'none on the x86 host, though it had fewer');

  // The arm host no longer runs aarch64: the next release of it has nowhere to go.
  arm.arches = ['x86_64'];
  c.report(0.1);
  const again = await armRelease('arm64 again');
  const r = await c.controller.deploy(again);
  assert.equal(r.ok, false);
  assert.match(!r.ok ? r.reason : '', /^no host runs aarch64 for the process runtime \(\[run\]\.arch asks for it\): see which architectures each host runs with `summon hosts`/);
  await waitFor(() => c.seen.some((e) => e.type === 'release.failed' && /no host runs aarch64/.test(e.message)), { timeoutMs: 5000, what: 'release.failed with the reason' });
  assert.equal([...x86.desired, ...arm.desired].filter((d) => d.version === again.version).length, 0, 'nothing started');
});

test('ps:scale within [min, max] holds against the autoscaler for the scale-in window (regression: undone 0.5 s later)', async (t) => {
  const host = new FakeHost('local', false);
  const c = await setUp(t, [host], 1);
  await waitFor(() => host.desired.length === 1, { timeoutMs: 5000, what: 'the first instance' });
  /** Moves the clock, reports every instance idle, and waits for the sampling tick. */
  const quietFor = async (ms: number) => {
    for (let done = 0; done < ms; done += 1000) {
      c.report(0, c.now() - 10_000);
      const looked = host.looked; // the controller looks at every host's link on each sampling tick
      c.advance(1000);
      await waitFor(() => host.looked > looked, { timeoutMs: 5000, what: 'a sampling tick' });
    }
  };
  await quietFor(65_000); // a full scale-in window of idle samples at one instance
  await c.controller.scale('web', 3);
  const hold = c.controller.manualHoldUntil('web');
  assert.equal(hold, c.now() + 60_000, 'held for the scale-in window from the change');
  await quietFor(30_000);
  assert.equal(c.controller.app('web')!.desiredCount, 3, 'not undone within the window');
  assert.ok(!c.seen.some((e) => e.type === 'scale.in'));
  await quietFor(32_000);
  await waitFor(() => c.controller.app('web')!.desiredCount === 1, { timeoutMs: 5000, what: 'a scale-in once the window after the change is full' });
  assert.equal(c.controller.manualHoldUntil('web'), null);
});

test('a tick over 1,000 apps at zero touches no per-app state and records nothing; a woken app is metered in instance- and memory-seconds', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'summon-controller-idle-'));
  const real: Store = await createSqliteStore(join(dir, 'summon.db'));
  let usageWrites = 0;
  const store = new Proxy(real, {
    get(target, prop, receiver) {
      if (prop === 'addUsage') return (...a: Parameters<Store['addUsage']>) => { usageWrites++; return target.addUsage(...a); };
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  let clock = 1_800_000_000_000;
  const now = () => clock;
  const secrets = await Secrets.open(dir, 'a'.repeat(64));
  const logs = new LogStore({ dir: join(dir, 'logs') });
  const events = new EventBus({ store, logs, now });
  const looked = { appStats: 0 };
  const counting: RouterPort = { ...router, appStats: () => { looked.appStats++; return { inflight: 0, held: 0, lastRequestAt: null }; } };
  const manifest = { ...MANIFEST, scale: { ...MANIFEST.scale, min: 0, idleTimeoutMs: 3_600_000 } };
  const name = (i: number) => `app-${String(i).padStart(4, '0')}`;
  for (let i = 0; i < 1000; i++) {
    await real.createApp(name(i), clock);
    await real.createRelease(name(i), {
      status: 'live', description: 'idle', reason: null, commit: null, artifactSha256: 'e'.repeat(64), initrdSha256: null,
      manifest, buildManifest: null, configCipher: secrets.encrypt({}),
    }, clock);
    await real.updateApp(name(i), { liveVersion: 1, desiredCount: 0 });
  }
  const host = new FakeHost('local', false);
  const controller = new Controller({ store, agents: [host], router: counting, events, secrets, now, tickMs: 5 });
  await controller.start();
  t.after(async () => {
    await controller.close();
    await events.drained();
    await real.close();
    await rm(dir, { recursive: true, force: true });
  });
  await waitFor(() => controller.activeApps() === 0, { timeoutMs: 5000, what: `every idle app out of the tick (${controller.activeApps()} left)` });
  const sampled = async (seconds: number) => {
    for (let k = 0; k < seconds; k++) {
      const before = host.looked;
      clock += 1000;
      await waitFor(() => host.looked > before, { timeoutMs: 5000, what: 'a sampling tick' });
    }
  };
  looked.appStats = 0;
  await sampled(12); // past a usage flush (every 10 s)
  assert.equal(controller.activeApps(), 0);
  assert.equal(looked.appStats, 0, 'the router was not asked about any idle app');
  assert.equal(usageWrites, 0, 'no usage written for apps with no instances');
  assert.deepEqual(controller.unflushedMetering(name(1)), { instanceSeconds: 0, memoryMibSeconds: 0 });
  assert.equal(controller.observations(name(1)).samples, 0);
  assert.equal(host.desired.length, 0);

  // Woken, it is back in the tick, alone, and metered: 64 MiB reserved × each second it runs.
  controller.wake(name(500));
  await waitFor(() => host.desired.length === 1, { timeoutMs: 5000, what: 'the woken app\'s instance' });
  assert.equal(controller.activeApps(), 1);
  const d = host.desired[0];
  controller.onInstanceStatus({
    id: d.id, app: d.app, version: d.version, host: 'local', state: 'healthy', address: '127.0.0.1', port: 40000,
    pid: 1, startedAt: clock - 10_000, healthyAt: clock - 10_000, restarts: 0, reason: null, nextRetryAt: null, cpu: 0.1, memoryBytes: 20 << 20, updatedAt: clock,
  });
  await sampled(3);
  const m = controller.unflushedMetering(name(500));
  assert.ok(m.instanceSeconds >= 3 && m.instanceSeconds <= 4, `instance-seconds ${m.instanceSeconds}`);
  assert.equal(m.memoryMibSeconds, m.instanceSeconds * 64);
  const o = controller.observations(name(500));
  assert.ok(o.samples >= 3);
  assert.equal(o.memoryPeakBytes, 20 << 20);
  await sampled(10);
  await waitFor(async () => (await real.listUsage({ fromDay: '2000-01-01' })).length === 1, { timeoutMs: 5000, what: 'the flush of the woken app\'s usage' });
  const [row] = await real.listUsage({ fromDay: '2000-01-01' });
  assert.equal(row.app, name(500));
  assert.equal(row.memoryMibSeconds, row.instanceSeconds * 64);
  assert.ok(row.instanceSeconds >= 3, `flushed ${row.instanceSeconds} instance-seconds`);
});
