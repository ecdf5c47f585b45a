// The control plane's reconcile loop. It owns no runtime: it feeds snapshots of each app to
// the pure planners (rollout, autoscale, idle), hands the resulting desired sets to the
// agents, keeps the router's table in step with instance health (pushed on every change, no
// polling gap), and records every decision as an event.
import type { DesiredInstance } from '../agent/agent.js';
import { isReachable, type HostAgent } from '../agent/host-agent.js';
import { planAutoscale, shouldIdle, type CpuSample } from '../core/autoscale.js';
import { ConflictError, InvalidInputError, NotFoundError } from '../core/errors.js';
import { planRollout, type PlannedInstance } from '../core/rollout.js';
import type { App, Instance, Release, ScalePolicy, Target } from '../core/types.js';
import type { Store } from '../store/store.js';
import type { EventBus } from './event-bus.js';
import { desiredInstanceFor } from './instance-spec.js';
import { choosePlacement, releaseNeed, type Placement, type PlacementHost, type PlacementNeed } from '../core/placement.js';
import type { Secrets } from './secrets.js';
import { silentLogger, type Logger } from '../logging/logger.js';
import { rollbackAdvice } from '../artifacts/integrity.js';
import type { Observations } from '../core/rightsizing.js';
import { UsageObserver } from './observations.js';

export interface RouterPort {
  setRoute(app: string, route: { kind: 'serving'; upstreams: { id: string; address: string; port: number }[] } | { kind: 'no-release' }): void;
  deleteRoute(app: string): void;
  inflight(instanceId: string): number;
  appStats(app: string): { inflight: number; held: number; lastRequestAt: number | null };
}

/** What placement knows of a host beyond its agent (core/placement.ts). */
export interface HostMeta {
  labels?: Record<string, string>;
  /** `summon hosts:drain`: no new instance goes there. */
  draining?: boolean;
  /** Memory the host offers instances. */
  memoryBytes?: number;
}

/** See tick(): how long after becoming healthy an instance's CPU does not count for autoscaling. */
const CPU_WARMUP_MS = 2000;

export interface ControllerOptions {
  store: Store;
  agents: HostAgent[];
  router: RouterPort;
  events: EventBus;
  secrets: Secrets;
  now?: () => number;
  tickMs?: number;
  /** A new instance must be healthy within this long of creation or the rollout fails. */
  deployDeadlineMs?: number;
  crashLoopRestarts?: number;
  autoscale?: { outMs?: number; inMs?: number; cooldownMs?: number };
  /** A host whose agent has been unreachable this long loses its instances: they are
   *  started again on reachable hosts, and stopped on it when its agent is back. */
  hostLostAfterMs?: number;
  /** Summon's own log: store writes that failed and were let go. */
  logger?: Logger;
  /** Before a release rolls out (several control-plane nodes: its artifact is stored in the
   *  database, so every node's agent can start it); a failure fails the rollout. */
  beforeRollout?: (release: Release) => Promise<void>;
}

interface Managed {
  desired: DesiredInstance;
  host: string;
  status: Instance;
  draining: boolean;
  createdAt: number;
  everHealthy: boolean;
}

interface AppState {
  app: App;
  releases: Map<number, RunningRelease>;
  instances: Map<string, Managed>;
  samples: CpuSample[];
  lastScaleAt: number | null;
  /** When `ps:scale` last set the count: the autoscaler's windows start from then. */
  manualAt: number | null;
  lastActivityAt: number;
  /** During a restart: the instances that were running when it began (to be replaced). */
  restarting: Set<string> | null;
  reconciling: boolean;
  again: boolean;
  usageSeconds: number;
  usageFlushed: number;
  /** Memory-seconds in MiB·s: each running instance's [run].memory reservation × the seconds it ran. */
  memorySeconds: number;
  memoryFlushed: number;
  /** Releases an agent refused to start (artifact missing or altered), with why. */
  broken: Map<number, string>;
  /** Why the live release could not be placed, said once until it can be again. */
  unplaceable: string | null;
  /** The target release's deploy gate ([test].smoke), while it rolls out. */
  gate: GateState | null;
}

type RolloutResult = { ok: true } | { ok: false; reason: string };

/** Asked of a rollout whose release has [test].smoke, once an instance of it is healthy and
 *  before any instance of it takes traffic: `ok` lets the rollout go on; otherwise it fails
 *  with the reason and the live release keeps serving. `signal` aborts when the rollout ends. */
export type DeployGate = (release: Release, instance: { id: string; address: string; port: number }, signal: AbortSignal) => Promise<RolloutResult>;

/** A rollout's gate: until it has passed, the release's instances are left out of the route
 *  table and count as not yet healthy to the planner (so nothing old is drained for them). */
interface GateState {
  version: number;
  state: 'waiting' | 'running' | 'passed';
  abort: AbortController;
}

/** Scale out after one full CPU sample (the agent samples every second) above target; scale in
 *  only after a minute below it; at most one decision every 3 s. */
export const DEFAULT_AUTOSCALE = { outMs: 1000, inMs: 60_000, cooldownMs: 3000 };

/** The controller keeps a release only to start instances of it: the build manifest (toolchain
 *  output, lockfiles, steps) stays in the store, which matters with a thousand idle apps. */
function forRunning(r: Release): RunningRelease {
  // What placement needs of it (the artifact's architecture) is kept.
  return { ...r, buildManifest: null, need: r.manifest ? releaseNeed(r) : null };
}

type RunningRelease = Release & { need: PlacementNeed | null };

export const DEFAULT_POLICY: ScalePolicy = { min: 1, max: 10, targetCpu: 0.8, idleTimeoutMs: 300_000 };

export class Controller {
  private readonly apps = new Map<string, AppState>();
  /** The apps the tick looks at: an app at zero with nothing in flight leaves this set at its
   *  next tick, and anything that could give it work (a reconcile: deploy, scale, wake,
   *  restart, an instance's status) puts it back. A thousand idle apps cost the tick nothing. */
  private readonly active = new Set<AppState>();
  /** Apps with usage not yet written to the store: the flush looks at these only. */
  private readonly metered = new Set<AppState>();
  private readonly waiters = new Map<string, ((r: RolloutResult) => void)[]>();
  private readonly now: () => number;
  private timer: NodeJS.Timeout | null = null;
  private lastSampleAt = 0;
  private lastUsageFlushAt = 0;
  private readonly opts: Required<Omit<ControllerOptions, 'autoscale' | 'beforeRollout'>> & Pick<ControllerOptions, 'beforeRollout'> & { autoscale: { outMs: number; inMs: number; cooldownMs: number } };

  constructor(opts: ControllerOptions) {
    this.now = opts.now ?? Date.now;
    this.opts = {
      tickMs: 100, deployDeadlineMs: 120_000, crashLoopRestarts: 3, hostLostAfterMs: 60_000, now: this.now, ...opts, logger: opts.logger ?? silentLogger(),
      autoscale: { ...DEFAULT_AUTOSCALE, ...opts.autoscale },
    };
    if (opts.agents.length === 0) throw new Error('Controller: at least one agent is required');
    this.observer = new UsageObserver(this.now());
    // From construction: an agent resuming its desired set may refuse a start before start().
    this.unsubscribe = opts.events.subscribe((e) => {
      if (e.app && (e.type === 'artifact.altered' || e.type === 'artifact.missing')) void this.releaseBroken(e.app, e.data, e.message);
      if (e.app && e.type === 'instance.crashed' && e.data.oomKilled === true) this.observer.oomKilled(e.app, this.now());
    });
  }

  private readonly unsubscribe: () => void;
  /** What running instances were seen to use, for rightsizing advice. */
  private readonly observer: UsageObserver;

  /** An agent refused to start an instance because its artifact (or initrd) is not what the
   *  release built: the release is marked broken (once), a rollout or restart of it fails at
   *  once, and instances already running are left alone. */
  private async releaseBroken(name: string, data: Record<string, unknown>, message: string): Promise<void> {
    const version = typeof data.version === 'number' ? data.version : null;
    if (version === null) return;
    const reason = message.replace(/; \S+ not started$/, '');
    try {
      const rel = await this.opts.store.getRelease(name, version);
      if (!rel) return;
      const st = this.apps.get(name);
      if (!rel.brokenReason) {
        const marked = await this.opts.store.updateRelease(name, version, { brokenReason: reason, brokenAt: this.now() }, this.now());
        if (st?.releases.has(version)) st.releases.set(version, forRunning(marked));
        const advice = rollbackAdvice(name, await this.opts.store.listReleases(name));
        void this.opts.events.emit(name, 'release.broken', `v${version} marked broken: ${reason} — ${advice}`, { version, reason, file: data.file ?? null, expected: data.expected ?? null, actual: data.actual ?? null });
      }
      if (st && !st.broken.has(version)) {
        st.broken.set(version, reason);
        void this.reconcile(name);
      }
    } catch (err) {
      this.opts.logger.warn({ err, app: name, version }, 'broken release not recorded');
    }
  }

  // ---- lifecycle ---------------------------------------------------------------------------

  async start(): Promise<void> {
    for (const app of await this.opts.store.listApps()) await this.load(app);
    // Adopt what the agents already run (they resume their saved desired sets on start).
    const hosts = new Set(this.opts.agents.map((a) => a.hostId));
    for (const agent of this.opts.agents) {
      for (const d of agent.desiredSet()) {
        const st = this.apps.get(d.app);
        if (!st) continue;
        const status = agent.instances().find((i) => i.id === d.id);
        if (!status) continue;
        st.instances.set(d.id, { desired: d, host: agent.hostId, status, draining: false, createdAt: status.startedAt ?? this.now(), everHealthy: status.state === 'healthy' });
      }
    }
    // Rows for instances nobody runs any more (e.g. after kill -9) are stale.
    for (const row of await this.opts.store.listInstances()) {
      if (hosts.has(row.host) && !this.apps.get(row.app)?.instances.has(row.id)) await this.opts.store.deleteInstance(row.id);
    }
    for (const st of this.apps.values()) {
      this.updateRoute(st);
      void this.reconcile(st.app.name);
    }
    // Samples (CPU, metering, host links) every second from now on; metering flushed every 10 s.
    this.lastSampleAt = this.now();
    this.lastUsageFlushAt = this.now();
    this.timer = setInterval(() => this.tick(), this.opts.tickMs);
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.unsubscribe();
    await this.flushRows();
    await this.flushUsage();
  }

  private async load(app: App): Promise<AppState> {
    const st: AppState = {
      app, releases: new Map(), instances: new Map(), samples: [], lastScaleAt: null, manualAt: null,
      lastActivityAt: this.now(), restarting: null, reconciling: false, again: false, usageSeconds: 0, usageFlushed: 0,
      memorySeconds: 0, memoryFlushed: 0, broken: new Map(), unplaceable: null, gate: null,
    };
    for (const v of [app.liveVersion, app.targetVersion]) {
      if (v === null) continue;
      const r = await this.opts.store.getRelease(app.name, v);
      if (r) st.releases.set(v, forRunning(r));
    }
    this.apps.set(app.name, st);
    this.active.add(st);
    return st;
  }

  private deployGate: DeployGate | null = null;

  /** The gate every rollout of a release with [test].smoke passes before it takes traffic
   *  (the release service's smoke tests). Also for rollouts resumed after a restart. */
  setDeployGate(gate: DeployGate | null): void {
    this.deployGate = gate;
  }

  // ---- commands (called by the services) ----------------------------------------------------

  async appCreated(app: App): Promise<void> {
    const st = await this.load(app);
    this.updateRoute(st);
  }

  async appRemoved(name: string): Promise<void> {
    const st = this.apps.get(name);
    if (!st) return;
    this.apps.delete(name);
    this.active.delete(st);
    this.metered.delete(st);
    this.observer.forget(name);
    st.gate?.abort.abort();
    this.opts.router.deleteRoute(name);
    for (const [id, w] of this.waiters) if (id.startsWith(`${name}@`)) for (const f of w) f({ ok: false, reason: 'app destroyed' });
    await this.pushDesired();
    for (const id of st.instances.keys()) await this.opts.store.deleteInstance(id);
  }

  /** Rolls `release` out; resolves when it is live, or failed with the reason. */
  async deploy(release: Release): Promise<RolloutResult> {
    const st = this.state(release.app);
    if (this.opts.beforeRollout) {
      try {
        await this.opts.beforeRollout(release);
      } catch (e) {
        const reason = `not rolled out: ${(e as Error).message}`;
        await this.opts.store.updateRelease(release.app, release.version, { status: 'failed', reason }, this.now());
        void this.opts.events.emit(release.app, 'release.failed', `v${release.version} failed: ${reason}`, { version: release.version, reason });
        return { ok: false, reason };
      }
    }
    const prev = st.app.targetVersion;
    if (prev !== null && prev !== release.version) {
      this.settle(st, prev, { ok: false, reason: `superseded by v${release.version} before it went live` });
      await this.opts.store.updateRelease(st.app.name, prev, { status: 'failed', reason: `superseded by v${release.version}` }, this.now());
    }
    if (st.gate && st.gate.version !== release.version) {
      st.gate.abort.abort();
      st.gate = null;
    }
    st.releases.set(release.version, forRunning(release));
    const result = new Promise<RolloutResult>((resolve) => {
      const key = `${release.app}@${release.version}`;
      this.waiters.set(key, [...(this.waiters.get(key) ?? []), resolve]);
    });
    await this.opts.store.updateRelease(release.app, release.version, { status: 'deploying' }, this.now());
    // The new release's [scale] applies from its deploy: its min and max bound the count (an
    // explicit `summon autoscale` policy wins over the manifest), and a first release is
    // verified on at least one instance.
    const policy = st.app.scalePolicy ?? release.manifest?.scale ?? DEFAULT_POLICY;
    let desired = Math.min(policy.max, Math.max(policy.min, st.app.desiredCount));
    if (desired === 0 && st.app.liveVersion === null) desired = 1;
    st.app = await this.opts.store.updateApp(release.app, { targetVersion: release.version, desiredCount: desired });
    st.lastActivityAt = this.now();
    const m = release.manifest!;
    void this.opts.events.emit(release.app, 'deploy.started',
      `deploying v${release.version} to ${st.app.desiredCount} instance(s) (max surge ${m.deploy.maxSurge}, max unavailable ${m.deploy.maxUnavailable})`,
      { version: release.version, desired: st.app.desiredCount });
    void this.reconcile(release.app);
    return result;
  }

  async scale(name: string, count: number, why = 'manual'): Promise<App> {
    const st = this.state(name);
    const policy = this.policy(st);
    if (!Number.isInteger(count) || count < 0) throw new InvalidInputError(`instance count must be a whole number ≥ 0, got ${count}`);
    if (count > policy.max) throw new InvalidInputError(`cannot scale ${name} to ${count}: the hard maximum is ${policy.max} (raise it with \`summon autoscale -a ${name} --max N\`)`);
    if (count < policy.min) throw new InvalidInputError(`cannot scale ${name} to ${count}: the minimum is ${policy.min} (lower it with \`summon autoscale -a ${name} --min N\`)`);
    if (why === 'manual') st.manualAt = this.now();
    await this.setDesired(st, count, why, {});
    return st.app;
  }

  /** Until when the autoscaler leaves a manually set count alone (it may scale out sooner, on
   *  a full scale-out window of load measured at the new count); null without a manual change
   *  or when the policy does not autoscale. */
  manualHoldUntil(name: string): number | null {
    const st = this.state(name);
    const policy = this.policy(st);
    if (st.manualAt === null || policy.max <= Math.max(policy.min, 1)) return null;
    const until = st.manualAt + this.opts.autoscale.inMs;
    return until > this.now() ? until : null;
  }

  async setPolicy(name: string, policy: ScalePolicy): Promise<App> {
    const st = this.state(name);
    if (policy.min > policy.max) throw new InvalidInputError(`--min ${policy.min} is greater than --max ${policy.max}`);
    st.app = await this.opts.store.updateApp(name, { scalePolicy: policy });
    const clamped = Math.min(policy.max, Math.max(policy.min, st.app.desiredCount));
    void this.opts.events.emit(name, 'scale.policy', `autoscale policy: min ${policy.min}, max ${policy.max}, target CPU ${Math.round(policy.targetCpu * 100)}%, idle timeout ${policy.idleTimeoutMs / 1000}s`, { ...policy });
    if (clamped !== st.app.desiredCount) await this.setDesired(st, clamped, 'policy', {});
    return st.app;
  }

  /** Replaces every instance, one batch at a time, like a deploy of the same release. */
  async restart(name: string): Promise<RolloutResult> {
    const st = this.state(name);
    if (st.app.liveVersion === null) throw new ConflictError(`${name} has no live release to restart`);
    if (st.app.targetVersion !== null) throw new ConflictError(`${name} is being deployed (v${st.app.targetVersion}); restart after it finishes`);
    st.restarting = new Set([...st.instances.values()].filter((i) => !i.draining).map((i) => i.status.id));
    const v = st.app.liveVersion;
    const result = new Promise<RolloutResult>((resolve) => {
      const key = `${name}@restart`;
      this.waiters.set(key, [...(this.waiters.get(key) ?? []), resolve]);
    });
    void this.opts.events.emit(name, 'deploy.restart', `restarting all instances of v${v}`);
    void this.reconcile(name);
    return result;
  }

  /** Sends every host its desired set again (a host added while running: what it still runs
   *  from before and the controller does not want is stopped). */
  async resync(): Promise<void> {
    if (this.timer) await this.pushDesired();
  }

  /** The router holds a request for an app with no healthy instance: wake it. */
  wake(name: string): void {
    const st = this.apps.get(name);
    if (!st) return;
    st.lastActivityAt = this.now();
    if (st.app.desiredCount > 0 || st.app.liveVersion === null) return;
    const policy = this.policy(st);
    if (policy.max < 1) return;
    void this.setDesired(st, 1, 'wake', {});
  }

  instances(name?: string): Instance[] {
    const out: Instance[] = [];
    // An instance on a host whose agent cannot be reached shows its last known state, and why
    // that may be stale.
    const down = new Map<string, string>();
    for (const a of this.opts.agents) {
      const l = a.link();
      if (l.state === 'unreachable') down.set(a.hostId, `host ${a.hostId} unreachable since ${new Date(l.since).toISOString()}: ${l.error ?? 'no answer'}; last known state shown`);
    }
    for (const st of this.apps.values()) {
      if (name && st.app.name !== name) continue;
      for (const m of st.instances.values()) {
        out.push({
          ...m.status, state: m.draining && m.status.state !== 'stopped' ? 'draining' : m.status.state,
          ...(down.has(m.host) ? { reason: down.get(m.host)! } : {}),
        });
      }
    }
    return out.sort((a, b) => a.app.localeCompare(b.app) || (a.startedAt ?? 0) - (b.startedAt ?? 0));
  }

  app(name: string): App | undefined {
    return this.apps.get(name)?.app;
  }

  policy(st: AppState | string): ScalePolicy {
    const s = typeof st === 'string' ? this.state(st) : st;
    const live = s.app.liveVersion !== null ? s.releases.get(s.app.liveVersion) : undefined;
    return s.app.scalePolicy ?? live?.manifest?.scale ?? DEFAULT_POLICY;
  }

  /** Instance-seconds metered since the last flush to the store. */
  unflushedUsage(name: string): number {
    const st = this.apps.get(name);
    return st ? st.usageSeconds - st.usageFlushed : 0;
  }

  /** Instance-seconds and memory-seconds (MiB·s) metered since the last flush to the store. */
  unflushedMetering(name: string): { instanceSeconds: number; memoryMibSeconds: number } {
    const st = this.apps.get(name);
    return st ? { instanceSeconds: st.usageSeconds - st.usageFlushed, memoryMibSeconds: st.memorySeconds - st.memoryFlushed } : { instanceSeconds: 0, memoryMibSeconds: 0 };
  }

  /** What the app's running instances were seen to use over the last day (or since start). */
  observations(name: string): Observations {
    this.state(name);
    return this.observer.summary(name, this.now(), this.opts.router.appStats(name).lastRequestAt);
  }

  /** How many apps the tick looks at now (apps with instances, a desired count or a rollout). */
  activeApps(): number {
    return this.active.size;
  }

  // ---- hosts that come and go ------------------------------------------------------------------

  /** Instances given up on a lost host (instance.lost): not adopted again when it is back, its
   *  agent stops them. */
  private readonly givenUp = new Set<string>();

  /**
   * A host's link came up (a joined host dialing in, after a restart of either side): what its
   * agent runs of a live or deploying release, and the controller does not know of, is adopted
   * as at start, before the host is sent its desired set (which would otherwise stop it).
   */
  hostConnected(agent: HostAgent & { reportedDesired?: () => DesiredInstance[] }): void {
    if (this.timer === null) return; // start() adopts what the agents run
    const reported = agent.reportedDesired?.() ?? agent.desiredSet();
    const changed = new Set<AppState>();
    for (const d of reported) {
      const st = this.apps.get(d.app);
      if (!st || st.instances.has(d.id) || this.givenUp.has(d.id)) continue;
      if (d.version !== st.app.liveVersion && d.version !== st.app.targetVersion) continue;
      const status = agent.instances().find((i) => i.id === d.id);
      if (!status || status.state === 'stopped') continue;
      st.instances.set(d.id, { desired: d, host: agent.hostId, status, draining: false, createdAt: status.startedAt ?? this.now(), everHealthy: status.state === 'healthy' });
      this.record(d.id, status);
      changed.add(st);
    }
    for (const st of changed) {
      this.updateRoute(st);
      void this.reconcile(st.app.name);
    }
    void this.pushDesired();
  }

  /** A host was removed (`summon hosts:remove`): its instances are given up and replaced on
   *  the hosts left. The agents list no longer has it. */
  hostRemoved(hostId: string): void {
    this.hostMeta.delete(hostId);
    for (const st of this.apps.values()) {
      let changed = false;
      for (const [id, m] of st.instances) {
        if (m.host !== hostId) continue;
        st.instances.delete(id);
        this.record(id, null);
        changed = true;
        void this.opts.events.emit(st.app.name, 'instance.lost', `${id} given up: host ${hostId} was removed; starting a replacement elsewhere`, { instance: id, host: hostId, reason: 'host removed' });
      }
      if (changed) {
        this.updateRoute(st);
        void this.reconcile(st.app.name);
      }
    }
  }

  /** The instances on a host, per app (`summon hosts:drain`, `summon hosts`). */
  instancesOn(hostId: string): Instance[] {
    return this.instances().filter((i) => i.host === hostId);
  }

  /**
   * `summon hosts:drain`: no new instance goes to the host (its meta says draining), and each
   * app's instances there are replaced through the rollout machinery, as a restart of only
   * those: a replacement is started elsewhere and healthy before the old one leaves the router
   * and drains its requests ([deploy] max_surge / max_unavailable as for any rollout). Apps in
   * the middle of a deploy or restart are waited for. Resolves when the host runs nothing.
   */
  async drainHost(hostId: string, progress: (line: string) => void = () => undefined, deadlineMs = 600_000): Promise<RolloutResult> {
    this.hostMeta.set(hostId, { ...this.hostMeta.get(hostId), draining: true });
    const until = this.now() + deadlineMs;
    for (;;) {
      const busy = [...this.apps.values()].filter((st) => [...st.instances.values()].some((m) => m.host === hostId && !m.draining));
      if (busy.length === 0) break;
      if (this.now() > until) return { ok: false, reason: `host ${hostId} still runs instances of ${busy.map((s) => s.app.name).join(', ')} after ${Math.round(deadlineMs / 1000)}s` };
      let waited = false;
      for (const st of busy) {
        const name = st.app.name;
        if (st.app.targetVersion !== null || st.restarting !== null || st.app.liveVersion === null) {
          waited = true;
          continue;
        }
        const ids = [...st.instances.values()].filter((m) => m.host === hostId && !m.draining).map((m) => m.status.id);
        progress(`moving ${ids.length} instance(s) of ${name} off ${hostId}`);
        st.restarting = new Set(ids);
        const result = new Promise<RolloutResult>((resolve) => {
          const key = `${name}@restart`;
          this.waiters.set(key, [...(this.waiters.get(key) ?? []), resolve]);
        });
        void this.opts.events.emit(name, 'host.draining', `moving ${ids.join(', ')} off host ${hostId} (summon hosts:drain)`, { host: hostId, instances: ids });
        void this.reconcile(name);
        const r = await result;
        if (!r.ok) return { ok: false, reason: `${name}: ${r.reason}` };
        progress(`${name}: moved`);
      }
      if (waited) await new Promise((r) => setTimeout(r, 200));
    }
    // The old instances have left the router; wait until they are stopped and gone.
    while ([...this.apps.values()].some((st) => [...st.instances.values()].some((m) => m.host === hostId))) {
      if (this.now() > until) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    void this.opts.events.emit(null, 'host.drained', `host ${hostId} is drained: no instance runs there, and none will be placed there`, { host: hostId });
    return { ok: true };
  }

  // ---- agent callbacks ------------------------------------------------------------------------

  onInstanceStatus(inst: Instance): void {
    const st = this.apps.get(inst.app);
    const m = st?.instances.get(inst.id);
    if (!st || !m) return;
    this.active.add(st);
    const before = m.status.state;
    // A joined host's instance is reached through a local forwarder that may come up after it
    // is healthy: a new address or port is a route change too.
    const moved = m.status.port !== inst.port || m.status.address !== inst.address;
    m.status = inst;
    if (inst.state === 'healthy') m.everHealthy = true;
    if (inst.state === 'stopped') {
      st.instances.delete(inst.id);
      this.record(inst.id, null);
    } else {
      this.record(inst.id, { ...inst, state: m.draining ? 'draining' : inst.state });
    }
    if (before !== inst.state || moved) {
      this.updateRoute(st);
      void this.reconcile(inst.app);
    }
  }

  /** Instance rows are written after the current turn, the latest state of each instance once:
   *  a wake-up or a burst of health changes is not slowed by the store, and an instance that
   *  changes state three times in a turn costs one write. */
  private readonly pendingRows = new Map<string, Instance | null>();

  private record(id: string, row: Instance | null): void {
    if (this.pendingRows.size === 0) setImmediate(() => void this.flushRows());
    this.pendingRows.set(id, row);
  }

  private rowWrites: Promise<void> = Promise.resolve();

  /** Flushes are chained, so an older row can never land after a newer one. */
  private flushRows(): Promise<void> {
    const rows = [...this.pendingRows];
    this.pendingRows.clear();
    this.rowWrites = this.rowWrites.then(async () => {
      for (const [id, row] of rows) {
        // The row is what `summon ps` and a restart's adoption read; the next change writes it again.
        await (row ? this.opts.store.putInstance(row) : this.opts.store.deleteInstance(id))
          .catch((err: unknown) => this.opts.logger.warn({ err, instance: id }, 'instance row not written'));
      }
    });
    return this.rowWrites;
  }

  // ---- the loop ---------------------------------------------------------------------------------

  private state(name: string): AppState {
    const st = this.apps.get(name);
    if (!st) throw new NotFoundError('app', name, 'see `summon apps`');
    return st;
  }

  private async setDesired(st: AppState, count: number, why: string, figures: Record<string, unknown>, message?: string): Promise<void> {
    if (count === st.app.desiredCount) return;
    const from = st.app.desiredCount;
    // Act first (a held request is waiting on this), then persist: the write waits for the
    // next turn, so the store does not run before the new instance is spawned.
    st.app = { ...st.app, desiredCount: count };
    void this.reconcile(st.app.name);
    await new Promise<void>((r) => setImmediate(r));
    st.app = await this.opts.store.updateApp(st.app.name, { desiredCount: count });
    const type = why === 'wake' ? 'app.wake' : why === 'idle' ? 'scale.idle' : why.startsWith('autoscale') ? `scale.${why.slice(10)}` : 'scale.manual';
    void this.opts.events.emit(st.app.name, type, message ?? `scaled ${st.app.name} from ${from} to ${count} (${why})`, { from, to: count, ...figures });
  }

  private updateRoute(st: AppState): void {
    if (st.app.liveVersion === null && st.app.targetVersion === null) {
      this.opts.router.setRoute(st.app.name, { kind: 'no-release' });
      return;
    }
    const upstreams = [];
    const gated = st.gate && st.gate.state !== 'passed' ? st.gate.version : null;
    for (const m of st.instances.values()) {
      if (m.status.state === 'healthy' && !m.draining && m.status.port !== null && m.desired.version !== gated) {
        upstreams.push({ id: m.status.id, address: m.status.address, port: m.status.port });
      }
    }
    this.opts.router.setRoute(st.app.name, { kind: 'serving', upstreams });
  }

  /** Runs the rollout planner for one app until it has nothing more to do right now. */
  private async reconcile(name: string): Promise<void> {
    const st = this.apps.get(name);
    if (!st) return;
    this.active.add(st);
    if (st.reconciling) {
      st.again = true;
      return;
    }
    st.reconciling = true;
    try {
      do {
        st.again = false;
        await this.reconcileOnce(st);
      } while (st.again && this.apps.has(name));
    } catch (e) {
      void this.opts.events.emit(name, 'control.error', `reconcile failed: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      st.reconciling = false;
    }
  }

  private async reconcileOnce(st: AppState): Promise<void> {
    const app = st.app;
    // A release whose artifact an agent refused: its rollout fails now (not at the deadline);
    // a restart of it stops, the instances still running from before it keep serving.
    const brokenTarget = app.targetVersion !== null ? st.broken.get(app.targetVersion) : undefined;
    if (brokenTarget !== undefined) {
      await this.failRollout(st, app.targetVersion!, brokenTarget);
      return;
    }
    if (st.restarting !== null && app.targetVersion === null && app.liveVersion !== null && st.broken.has(app.liveVersion)) {
      const before = st.restarting;
      st.restarting = null;
      for (const inst of st.instances.values()) if (!before.has(inst.status.id) && !inst.draining) this.drain(st, inst, 0);
      const reason = st.broken.get(app.liveVersion)!;
      void this.opts.events.emit(app.name, 'deploy.restart_failed', `restart of v${app.liveVersion} stopped: ${reason}; the instances running from before keep serving`, { version: app.liveVersion, reason });
      this.settleKey(`${app.name}@restart`, { ok: false, reason });
      this.updateRoute(st);
      return;
    }
    const target = app.targetVersion ?? (st.restarting !== null ? app.liveVersion : null);
    const release = target !== null ? st.releases.get(target) : app.liveVersion !== null ? st.releases.get(app.liveVersion) : undefined;
    const m = release?.manifest;
    const restarting = st.restarting;
    const gated = this.gate(st, release);
    const planned: PlannedInstance[] = [...st.instances.values()].map((i) => ({
      id: i.status.id,
      // During a restart, instances from before it count as another version.
      version: restarting !== null && restarting.has(i.status.id) && app.targetVersion === null ? -1 : i.desired.version,
      // Behind a gate that has not passed, a healthy instance of the release is not healthy to
      // the planner yet: nothing old is drained for it and the rollout is not promoted.
      state: gated !== null && i.desired.version === gated && i.status.state === 'healthy' ? 'starting' : i.status.state,
      draining: i.draining, restarts: i.status.restarts, everHealthy: i.everHealthy,
      createdAt: i.createdAt, reason: i.status.reason,
    }));
    const plan = planRollout({
      desired: app.desiredCount,
      liveVersion: app.liveVersion,
      targetVersion: target,
      instances: planned,
      deploy: m ? { maxSurge: m.deploy.maxSurge, maxUnavailable: m.deploy.maxUnavailable } : { maxSurge: 1, maxUnavailable: 0 },
      deadlineMs: Math.max(this.opts.deployDeadlineMs, m?.health.graceMs ?? 0),
      crashLoopRestarts: this.opts.crashLoopRestarts,
    }, this.now());

    if (plan.fail) {
      await this.failRollout(st, plan.fail.version, plan.fail.reason);
      return;
    }
    let changed = false;
    for (const id of plan.drain) {
      const inst = st.instances.get(id);
      if (inst && !inst.draining) {
        this.drain(st, inst, m?.deploy.drainTimeoutMs ?? 10_000);
        changed = true;
      }
    }
    if (plan.start && release) {
      const config = this.opts.secrets.decrypt(release.configCipher);
      for (let k = 0; k < plan.start.count; k++) {
        const placed = this.placeOn(release);
        if ('refused' in placed) {
          // The architecture its artifact needs runs on no host: a rollout of it fails with the
          // reason; the live release (a scale-up, a wake-up) says so once and starts nothing.
          if (app.targetVersion === release.version) {
            await this.failRollout(st, release.version, placed.refused);
            return;
          }
          if (st.unplaceable !== placed.refused) {
            st.unplaceable = placed.refused;
            void this.opts.events.emit(app.name, 'instance.unplaceable', `v${release.version} cannot start: ${placed.refused}`, { version: release.version, reason: placed.refused });
          }
          break;
        }
        st.unplaceable = null;
        const host = placed.host;
        const d = desiredInstanceFor(release, config);
        const now = this.now();
        st.instances.set(d.id, {
          desired: d, host, draining: false, createdAt: now, everHealthy: false,
          status: { id: d.id, app: d.app, version: d.version, host, state: 'pending', address: '127.0.0.1', port: null, pid: null, startedAt: null, healthyAt: null, restarts: 0, reason: null, nextRetryAt: null, cpu: null, memoryBytes: null, updatedAt: now },
        });
        changed = true;
      }
    }
    if (changed) {
      this.updateRoute(st);
      await this.pushDesired();
    }
    if (plan.promote !== null && app.targetVersion === plan.promote) await this.promote(st, plan.promote);
    else if (plan.promote !== null && restarting !== null && app.targetVersion === null) {
      st.restarting = null;
      void this.opts.events.emit(app.name, 'deploy.restarted', `all instances of v${plan.promote} restarted`);
      this.settleKey(`${app.name}@restart`, { ok: true });
    }
  }

  /** The version held behind the deploy gate now (null: none), starting the gate once an
   *  instance of the target release is healthy. */
  private gate(st: AppState, release: RunningRelease | undefined): number | null {
    const target = st.app.targetVersion;
    if (target === null || !release || release.version !== target || !this.deployGate || !release.manifest?.test?.smoke.length) return null;
    if (st.gate?.version !== target) {
      st.gate?.abort.abort();
      st.gate = { version: target, state: 'waiting', abort: new AbortController() };
    }
    const gate = st.gate;
    if (gate.state === 'passed') return null;
    if (gate.state === 'waiting') {
      const inst = [...st.instances.values()].find((i) => i.desired.version === target && !i.draining && i.status.state === 'healthy' && i.status.port !== null);
      if (inst) {
        gate.state = 'running';
        const run = this.deployGate;
        const ended = (r: RolloutResult) => {
          if (st.gate !== gate || st.app.targetVersion !== target || !this.apps.has(st.app.name)) return;
          if (r.ok) {
            gate.state = 'passed';
            this.updateRoute(st);
            void this.reconcile(st.app.name);
          } else {
            void this.failRollout(st, target, r.reason).then(() => this.reconcile(st.app.name));
          }
        };
        void run(release, { id: inst.status.id, address: inst.status.address, port: inst.status.port! }, gate.abort.signal)
          .then(ended, (e: unknown) => ended({ ok: false, reason: `smoke tests could not run: ${e instanceof Error ? e.message : String(e)}` }));
      }
    }
    return target;
  }

  private readonly linkStates = new Map<string, string>();

  /** host.unreachable when a host's agent cannot be reached (also when it could not be at
   *  start), host.connected when it is back: events of no app, which email notifies. */
  private noteLinks(): void {
    for (const a of this.opts.agents) {
      const l = a.link();
      const before = this.linkStates.get(a.hostId);
      if (before === l.state) continue;
      this.linkStates.set(a.hostId, l.state);
      if (l.state === 'unreachable') {
        void this.opts.events.emit(null, 'host.unreachable', `host ${a.hostId} is unreachable: ${l.error ?? 'no answer'}`,
          { host: a.hostId, url: l.url ?? null, error: l.error ?? null, since: l.since });
      } else if (before === 'unreachable') {
        void this.opts.events.emit(null, 'host.connected', `host ${a.hostId} is connected again`, { host: a.hostId, url: l.url ?? null });
      }
    }
  }

  /** Instances on a host unreachable for longer than hostLostAfterMs are given up: the planner
   *  starts their replacements on reachable hosts, and the host's agent, once back, receives a
   *  desired set without them and stops them. */
  private dropLostHosts(now: number): void {
    const lost = new Map<string, string>();
    for (const a of this.opts.agents) {
      const l = a.link();
      if (l.state === 'unreachable' && now - l.since >= this.opts.hostLostAfterMs) lost.set(a.hostId, l.error ?? 'no answer');
    }
    if (lost.size === 0) return;
    let changed = false;
    for (const st of this.apps.values()) {
      let appChanged = false;
      for (const [id, m] of st.instances) {
        const why = lost.get(m.host);
        if (why === undefined) continue;
        // With no reachable host to run it, it is better left where it is, for when that host is back.
        if (this.reachableHostsFor(m.desired.target).length === 0) continue;
        st.instances.delete(id);
        this.record(id, null);
        this.givenUp.add(id);
        appChanged = true;
        void this.opts.events.emit(st.app.name, 'instance.lost',
          `${id} given up: host ${m.host} unreachable for over ${Math.round(this.opts.hostLostAfterMs / 1000)}s (${why}); starting a replacement elsewhere`,
          { instance: id, host: m.host, reason: why });
      }
      if (appChanged) {
        changed = true;
        this.updateRoute(st);
        void this.reconcile(st.app.name);
      }
    }
    if (changed) void this.pushDesired();
  }

  /** Hosts that have a runtime for target and can be reached now. */
  private reachableHostsFor(target: Target): HostAgent[] {
    return this.opts.agents.filter((a) => a.offers(target) && isReachable(a));
  }

  /** What placement knows of each host beyond its agent: labels, drain, capacity (the hosts
   *  table, kept current by the server). */
  private readonly hostMeta = new Map<string, HostMeta>();

  setHostMeta(hostId: string, meta: HostMeta): void {
    this.hostMeta.set(hostId, meta);
  }

  hostInfo(hostId: string): HostMeta | undefined {
    return this.hostMeta.get(hostId);
  }

  /** Placement (core/placement.ts): a snapshot of every host (runtime, architecture, link,
   *  labels, drain, memory placed there, this app's instances) handed to the pure planner. */
  private placeOn(release: RunningRelease): Placement {
    const need = release.need ?? releaseNeed(release);
    const counts = new Map<string, number>();
    const mine = new Map<string, number>();
    const used = new Map<string, number>();
    for (const s of this.apps.values()) {
      for (const i of s.instances.values()) {
        counts.set(i.host, (counts.get(i.host) ?? 0) + 1);
        used.set(i.host, (used.get(i.host) ?? 0) + i.desired.memoryBytes);
        if (s.app.name === release.app) mine.set(i.host, (mine.get(i.host) ?? 0) + 1);
      }
    }
    return choosePlacement(this.opts.agents.map((a): PlacementHost => {
      const meta = this.hostMeta.get(a.hostId);
      return {
        id: a.hostId, offers: a.offers(need.target), runsArch: !need.arch || a.offers(need.target, need.arch),
        reachable: isReachable(a), instances: counts.get(a.hostId) ?? 0, appInstances: mine.get(a.hostId) ?? 0,
        usedMemoryBytes: used.get(a.hostId) ?? 0,
        ...(meta?.labels ? { labels: meta.labels } : {}),
        ...(meta?.draining ? { draining: true } : {}),
        ...(meta?.memoryBytes ? { memoryBytes: meta.memoryBytes } : {}),
      };
    }), need);
  }

  private drain(st: AppState, inst: Managed, timeoutMs: number): void {
    inst.draining = true;
    const id = inst.status.id;
    this.record(id, { ...inst.status, state: 'draining' });
    void this.opts.events.emit(st.app.name, 'instance.draining', `draining ${id} (v${inst.desired.version})`, { instance: id, version: inst.desired.version });
    const deadline = this.now() + timeoutMs;
    const waitIdle = (): void => {
      if (!this.apps.has(st.app.name)) return;
      const busy = inst.status.state === 'healthy' && this.opts.router.inflight(id) > 0;
      if (busy && this.now() < deadline) {
        setTimeout(waitIdle, 20);
        return;
      }
      st.instances.delete(id);
      void this.pushDesired();
      // The next batch of a rollout may start now, not at the next tick.
      void this.reconcile(st.app.name);
    };
    // The route update has already been pushed; let requests that were just dispatched register.
    setImmediate(waitIdle);
  }

  private async pushDesired(): Promise<void> {
    const byHost = new Map<string, DesiredInstance[]>(this.opts.agents.map((a) => [a.hostId, []]));
    for (const st of this.apps.values()) for (const m of st.instances.values()) byHost.get(m.host)?.push(m.desired);
    await Promise.all(this.opts.agents.map((a) => a.setDesired(byHost.get(a.hostId) ?? [])));
  }

  private async promote(st: AppState, version: number): Promise<void> {
    const name = st.app.name;
    const prev = st.app.liveVersion;
    const now = this.now();
    if (prev !== null && prev !== version) await this.opts.store.updateRelease(name, prev, { status: 'superseded' }, now);
    const rel = await this.opts.store.updateRelease(name, version, { status: 'live', reason: null }, now);
    st.releases.set(version, forRunning(rel));
    if (prev !== null && prev !== version) st.releases.delete(prev);
    st.app = await this.opts.store.updateApp(name, { liveVersion: version, targetVersion: null });
    st.gate = null;
    void this.opts.events.emit(name, 'release.live', `v${version} is live on ${st.app.desiredCount} instance(s)`, { version, previous: prev });
    this.settle(st, version, { ok: true });
  }

  private async failRollout(st: AppState, version: number, reason: string): Promise<void> {
    const name = st.app.name;
    for (const inst of st.instances.values()) {
      if (inst.desired.version === version && !inst.draining) this.drain(st, inst, 0);
    }
    if (st.gate?.version === version) {
      st.gate.abort.abort();
      st.gate = null;
    }
    await this.opts.store.updateRelease(name, version, { status: 'failed', reason }, this.now());
    st.app = await this.opts.store.updateApp(name, { targetVersion: null });
    st.releases.delete(version);
    void this.opts.events.emit(name, 'release.failed', `v${version} failed: ${reason}${st.app.liveVersion !== null ? `; v${st.app.liveVersion} keeps serving` : ''}`, { version, reason });
    this.settle(st, version, { ok: false, reason });
    this.updateRoute(st);
    st.again = true;
  }

  private settle(st: AppState, version: number, r: RolloutResult): void {
    this.settleKey(`${st.app.name}@${version}`, r);
  }

  private settleKey(key: string, r: RolloutResult): void {
    const w = this.waiters.get(key);
    this.waiters.delete(key);
    for (const f of w ?? []) f(r);
  }

  private tick(): void {
    const now = this.now();
    const sample = now - this.lastSampleAt >= 1000;
    const dt = sample ? (this.lastSampleAt ? (now - this.lastSampleAt) / 1000 : 0) : 0;
    if (sample) {
      this.lastSampleAt = now;
      this.noteLinks();
      this.dropLostHosts(now);
    }
    for (const st of this.active) {
      // An app at zero with nothing in flight has nothing to decide: it leaves the loop until a
      // reconcile brings it back (waking is the router's and the DNS server's call), so idle
      // apps cost no CPU and nothing is recorded for them.
      if (st.app.desiredCount === 0 && st.instances.size === 0 && st.app.targetVersion === null && st.restarting === null) {
        this.active.delete(st);
        continue;
      }
      const policy = this.policy(st);
      const stats = this.opts.router.appStats(st.app.name);
      if (stats.lastRequestAt !== null && stats.lastRequestAt > st.lastActivityAt) st.lastActivityAt = stats.lastRequestAt;
      if (stats.held > 0 || stats.inflight > 0) st.lastActivityAt = now;
      if (st.app.targetVersion === null && shouldIdle(policy, st.app.desiredCount, st.lastActivityAt, stats.inflight, now)) {
        void this.setDesired(st, 0, 'idle', { idleMs: now - st.lastActivityAt }, `no request for ${Math.round((now - st.lastActivityAt) / 1000)}s: scaled ${st.app.name} to zero`);
        continue;
      }
      if (!sample) {
        // Crash-loop deadlines and restarts are time-driven, not only event-driven.
        continue;
      }
      // CPU of an instance that has just become healthy still holds its boot (a TCG guest keeps a
      // core busy while booting): it is left out of the average until one full stats sample
      // after the boot, or every boot would look like load.
      const running = [...st.instances.values()].filter((m) => m.status.state === 'healthy' && !m.draining &&
        (m.status.healthyAt === null || now - m.status.healthyAt >= CPU_WARMUP_MS));
      const live = [...st.instances.values()].filter((m) => m.status.pid !== null);
      if (live.length && dt > 0) {
        st.usageSeconds += live.length * dt;
        st.memorySeconds += live.reduce((a, m) => a + m.desired.memoryBytes, 0) / 2 ** 20 * dt;
        this.metered.add(st);
      }
      if (running.length) {
        this.observer.record(st.app.name, now, running.map((m) => m.status));
        const avg = running.reduce((a, m) => a + (m.status.cpu ?? 0), 0) / running.length;
        st.samples.push({ at: now, avgCpu: avg, instances: running.length });
        const keep = now - this.opts.autoscale.inMs - 5000;
        while (st.samples.length && st.samples[0].at < keep) st.samples.shift();
      }
      if (st.app.targetVersion === null && st.restarting === null) {
        const d = planAutoscale({ policy, desired: st.app.desiredCount, samples: st.samples, lastScaleAt: st.lastScaleAt, manualAt: st.manualAt, now, windows: this.opts.autoscale });
        if (d) {
          st.lastScaleAt = now;
          void this.setDesired(st, d.desired, `autoscale ${d.direction}`, d.figures, `autoscale ${d.direction}: ${d.desired} instance(s): ${d.reason}`);
          if (d.direction === 'out' && d.desired === policy.max) {
            void this.opts.events.emit(st.app.name, 'scale.max', `${st.app.name} reached its hard maximum of ${policy.max} instances`, d.figures);
          }
        }
      }
      void this.reconcile(st.app.name);
    }
    if (now - this.lastUsageFlushAt > 10_000) {
      this.lastUsageFlushAt = now;
      void this.flushUsage();
    }
  }

  private async flushUsage(): Promise<void> {
    const day = new Date(this.now()).toISOString().slice(0, 10);
    const due = [...this.metered];
    this.metered.clear();
    for (const st of due) {
      const add = st.usageSeconds - st.usageFlushed;
      const mem = st.memorySeconds - st.memoryFlushed;
      if (add <= 0 && mem <= 0) continue;
      st.usageFlushed = st.usageSeconds;
      st.memoryFlushed = st.memorySeconds;
      await this.opts.store.addUsage(st.app.name, day, add, mem)
        .catch((err: unknown) => this.opts.logger.warn({ err, app: st.app.name, seconds: add, memoryMibSeconds: mem }, 'usage not recorded'));
    }
  }
}
