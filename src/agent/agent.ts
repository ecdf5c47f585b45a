// The agent runs on each host. It receives the full desired set of instances for its host,
// keeps it on local disk (so it goes on running and healing when the control plane is away),
// reconciles it through the runtimes, probes health, restarts crashed or unhealthy instances
// with backoff, samples CPU and memory, and reports every change at once.
import { setMaxListeners } from 'node:events';
import { mkdirSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Arch, Instance, InstanceState, Manifest, RuntimeCapability, Target } from '../core/types.js';
import { runsArch } from '../core/arch.js';
import { restartDelayMs } from '../core/backoff.js';
import type { Runtime } from '../runtimes/runtime.js';
import { PortAllocator, portIsFree } from './ports.js';
import type { HostAgent, HostLink } from './host-agent.js';
import { silentLogger, type Logger } from '../logging/logger.js';
import { isLocalExhaustion, probeHttp, probeTcp, type ProbeOptions, type ProbeResult } from './health-probe.js';
import { ArtifactVerifier, describeVerdict, type Verdict } from '../artifacts/verify.js';
import { formatSize } from '../core/units.js';

export interface DesiredInstance {
  id: string;
  app: string;
  version: number;
  target: Target;
  artifactSha256: string;
  initrdSha256: string | null;
  args: string[];
  env: Record<string, string>;
  guestPort: number;
  memoryBytes: number;
  /** [run].cpu in cores. */
  cpu?: number;
  cmdline?: string;
  network?: 'tap' | 'user';
  health: Manifest['health'];
}

export interface AgentEvent {
  type: string;
  app: string;
  instance: string;
  message: string;
  data?: Record<string, unknown>;
  /** When it happened on the agent's host (ms since the epoch), for events that arrive later. */
  at?: number;
}

/** What an agent tells whoever drives it, in this process or over the agent protocol. */
export interface AgentCallbacks {
  onStatus: (instance: Instance) => void;
  /** `at`: when the line was written, for lines that arrive later (over the agent protocol). */
  onConsole: (app: string, instance: string, line: string, stream: string, at?: number) => void;
  onEvent: (event: AgentEvent) => void;
}

export interface AgentOptions extends AgentCallbacks {
  hostId: string;
  dataDir: string;
  runtimes: Runtime[];
  artifactPath: (sha256: string) => string;
  /** How often CPU and memory are sampled. */
  statsIntervalMs?: number;
  /** Health checks while an instance is starting run this often (never slower than [health].interval). */
  startProbeMs?: number;
  stopGraceMs?: number;
  now?: () => number;
  /** The address the router reaches this host's instances at, when it is not this host's
   *  loopback (a remote agent): reported for instances whose runtime listens on all
   *  addresses of the host (process) instead of 127.0.0.1. */
  advertise?: string;
  /** Makes sure what an instance needs is on this host before it starts (a remote agent
   *  fetches the artifact from the control plane). */
  prepare?: (d: DesiredInstance) => Promise<void>;
  /** Checks the artifact and initrd against their digests before every start (default: one
   *  of its own, caching verdicts by inode and times). */
  verifier?: ArtifactVerifier;
  /** Fetches a blob again when the local copy is missing or altered (a remote agent: from
   *  the control plane); tried once per start before the start is refused. */
  refetch?: (sha256: string) => Promise<void>;
  /** Summon's own log: the desired set not saved to disk. */
  logger?: Logger;
  /** Where instances' host ports come from (default: a PortAllocator over the ports below the
   *  kernel's ephemeral range, skipping those this agent's instances hold). */
  ports?: { take(): Promise<number>; release(port: number): void };
  /** Whether nothing else holds a port: asked when an instance exits before it was ever healthy
   *  on its port (default: a bind of 0.0.0.0:port). */
  portIsFree?: (port: number) => Promise<boolean>;
}

/** The agent's view of one instance. */
class Worker {
  status: Instance;
  desired: DesiredInstance;
  stopping = false;
  removed = false;
  successes = 0;
  failures = 0;
  everHealthy = false;
  lastProbe: ProbeResult | null = null;
  lastLines: string[] = [];
  /** Why the last attempt ended (the crashed reason), shown while the next one starts. */
  lastFailure: string | null = null;
  timer: NodeJS.Timeout | null = null;
  probing = false;
  /** The launch in flight, if any. */
  launching: Promise<void> | null = null;
  /** Crashes since the instance was last stable; drives the restart backoff. */
  crashStreak = 0;
  /** Checks in flight while starting (they may overlap, see probe()). */
  startProbes = 0;
  /** Ends the checks still in flight once the instance is healthy, relaunched or removed. */
  startAbort: AbortController | null = null;
  /** What the runtime's network does with a check sent before the instance listens. */
  unanswered: 'refused' | 'dropped' | 'held' = 'refused';
  /** Where this agent checks the instance (the runtime's own address, not the advertised one). */
  probeAddress = '127.0.0.1';
  /** Checks begun since the launch. */
  startChecks = 0;
  /** When a check was first refused since the launch: the network is up, the app about to listen. */
  firstRefusedAt: number | null = null;
  /** Bumped on every launch, so a check begun before a restart cannot count after it. */
  launches = 0;
  /** Launches in a row that found their port taken by another program (not crashes). */
  portTaken = 0;

  constructor(desired: DesiredInstance, host: string, now: number) {
    this.desired = desired;
    this.status = {
      id: desired.id, app: desired.app, version: desired.version, host, state: 'pending',
      address: '127.0.0.1', port: null, pid: null, startedAt: null, healthyAt: null, restarts: 0,
      reason: null, nextRetryAt: null, cpu: null, memoryBytes: null, updatedAt: now,
    };
  }
}

interface IntegrityFailure {
  what: 'artifact' | 'initrd';
  verdict: Exclude<Verdict, { ok: true }>;
  /** What fetching it again did, when it was tried. */
  refetch: string | null;
}

const CRASH_LINES = 10;
/** Launches in a row on a port found taken before the next exit counts as a crash. */
const PORT_TAKEN_RETRIES = 3;
/** Healthy this long, an instance's next crash is treated as a first one again. */
const STABLE_MS = 30_000;
// While a VM instance starts, a check that neither connects nor is refused may hang for the
// whole [health].timeout: QEMU's user-mode network accepts the host side of a connection
// before the guest listens and holds it while the guest boots; a tap device drops the SYN
// until the guest's interface is up. So checks overlap rather than wait for the previous
// one to give up, and the instance is healthy soon after the guest starts listening:
//  - held: a new check every timeout/16, at most 16 in flight (each held check costs QEMU
//    work; more measurably slow a TCG guest);
//  - dropped: a new check every 2 ms, abandoned when not connected within 20 ms, like a
//    SYN lost on the way; every 16th waits the whole timeout, so a guest too slow to answer
//    a SYN in 20 ms still becomes healthy.
const START_CHECKS = {
  refused: { inFlight: 16, everyMs: undefined, connectTimeoutMs: undefined, fullEvery: 1 },
  held: { inFlight: 16, everyMs: (timeoutMs: number) => Math.max(2, Math.ceil(timeoutMs / 16)), connectTimeoutMs: undefined, fullEvery: 1 },
  dropped: { inFlight: 64, everyMs: () => 2, connectTimeoutMs: 20, fullEvery: 16 },
} as const;

export class Agent implements HostAgent {
  readonly hostId: string;
  private readonly opts: Required<Omit<AgentOptions, 'now' | 'advertise' | 'prepare' | 'refetch' | 'ports'>> & Pick<AgentOptions, 'advertise' | 'prepare' | 'refetch'> & { now: () => number };
  private readonly ports: { take(): Promise<number>; release(port: number): void };
  private readonly startedAt = Date.now();
  private readonly runtimes = new Map<Target, Runtime>();
  private readonly workers = new Map<string, Worker>();
  private statsTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private persistChain: Promise<void> = Promise.resolve();

  constructor(opts: AgentOptions) {
    if (!opts.hostId) throw new Error('Agent: hostId is required');
    if (!opts.dataDir) throw new Error('Agent: dataDir is required');
    this.hostId = opts.hostId;
    this.opts = {
      statsIntervalMs: 1000, startProbeMs: 50, stopGraceMs: 10_000, now: Date.now, ...opts, logger: opts.logger ?? silentLogger(),
      verifier: opts.verifier ?? new ArtifactVerifier(),
      portIsFree: opts.portIsFree ?? ((p) => portIsFree(p)),
    };
    this.ports = opts.ports ?? new PortAllocator({ inUse: (p) => this.holdsPort(p) });
    for (const r of opts.runtimes) this.runtimes.set(r.target, r);
    for (const r of opts.runtimes) r.onExit((id, st) => this.onExit(id, st.exitCode, st.signal, st.oomKilled === true));
  }

  /** Cleans up after a previous run, then resumes the desired set saved on disk. */
  async start(): Promise<void> {
    await mkdir(this.instancesDir, { recursive: true });
    const saved = await this.loadDesired();
    // What the saved set names and still runs is adopted (by the runtimes that can), not restarted.
    const keep = new Set(saved.map((d) => d.id));
    for (const r of this.runtimes.values()) await r.recover(this.opts.dataDir, keep);
    // What each runtime runs (architectures among it), known for placement before long; a
    // runtime's probe may take seconds, so nothing waits for it here.
    void this.capabilities().catch(() => undefined);
    if (saved.length) await this.setDesired(saved);
    this.statsTimer = setInterval(() => void this.sampleStats(), this.opts.statsIntervalMs);
    this.statsTimer.unref();
  }

  async capabilities(): Promise<RuntimeCapability[]> {
    const caps = await Promise.all([...this.runtimes.values()].map((r) => r.capability()));
    this.caps = caps;
    return caps;
  }

  /** The last capabilities() answer, for offers(): placement asks without waiting. */
  private caps: RuntimeCapability[] | undefined;

  offers(target: Target, arch?: Arch): boolean {
    if (!this.runtimes.has(target)) return false;
    // Not asked yet (start() asks at once): the runtime says at start whether it can.
    const cap = this.caps?.find((c) => c.target === target);
    return !cap || runsArch(cap.arches, arch);
  }

  link(): HostLink {
    return { state: 'local', address: this.opts.advertise ?? '127.0.0.1', since: this.startedAt };
  }

  /** Replaces the desired set: starts what is new, stops what is gone. */
  async setDesired(list: DesiredInstance[]): Promise<void> {
    if (this.closed) return;
    const wanted = new Map(list.map((d) => [d.id, d]));
    this.persist(list);
    for (const d of list) {
      if (!this.workers.has(d.id)) {
        const w = new Worker(d, this.hostId, this.opts.now());
        this.workers.set(d.id, w);
        this.report(w);
        void this.launch(w);
      }
    }
    const stops: Promise<void>[] = [];
    for (const w of this.workers.values()) {
      if (!wanted.has(w.status.id) && !w.removed) stops.push(this.remove(w));
    }
    await Promise.all(stops);
  }

  /** A free port for the next instance, found ahead of time so a cold start does not wait
   *  for the kernel to hand one out. */
  private spare: Promise<number> | null = null;

  private takePort(): Promise<number> {
    const p = this.spare ?? this.ports.take();
    const next = this.ports.take();
    next.catch(() => undefined); // a failure is the next taker's to see
    this.spare = next;
    return p;
  }

  /** Whether one of this agent's instances holds the port (running, starting, or waiting to
   *  restart on it). */
  private holdsPort(port: number): boolean {
    for (const w of this.workers.values()) if (!w.removed && w.status.port === port) return true;
    return false;
  }

  desiredSet(): DesiredInstance[] {
    return [...this.workers.values()].filter((w) => !w.removed).map((w) => w.desired);
  }

  instances(): Instance[] {
    return [...this.workers.values()].filter((w) => !w.removed).map((w) => ({ ...w.status }));
  }

  /** Stops every instance (used when Summon shuts down cleanly). The saved desired set is kept,
   *  so the next start resumes it. */
  async close(opts: { stopInstances?: boolean } = {}): Promise<void> {
    this.closed = true;
    if (this.statsTimer) clearInterval(this.statsTimer);
    await this.persistChain;
    const all = [...this.workers.values()];
    for (const w of all) {
      if (w.timer) clearTimeout(w.timer);
      w.startAbort?.abort();
    }
    await Promise.all(all.map((w) => w.launching?.catch(() => undefined)));
    if (opts.stopInstances !== false) {
      await Promise.all(all.map(async (w) => {
        w.stopping = true;
        await this.runtimeOf(w)?.stop(w.status.id, { graceMs: 3000 });
      }));
    } else {
      // Left running for the next start to adopt.
      for (const w of all) w.stopping = true;
      await Promise.all([...this.runtimes.values()].map((r) => r.detach?.()));
    }
  }

  private get instancesDir(): string {
    return join(this.opts.dataDir, 'instances');
  }

  private runtimeOf(w: Worker): Runtime | undefined {
    return this.runtimes.get(w.desired.target);
  }

  private report(w: Worker): void {
    w.status.updatedAt = this.opts.now();
    this.opts.onStatus({ ...w.status });
  }

  private setState(w: Worker, state: InstanceState, reason: string | null): void {
    w.status.state = state;
    w.status.reason = reason;
    this.report(w);
  }

  /** Starts the instance; remove() and close() wait for a launch in flight, so an instance
   *  removed while it was being started can never be left running. */
  private launch(w: Worker): Promise<void> {
    const p = this.launchNow(w);
    w.launching = p;
    return p;
  }

  private async launchNow(w: Worker): Promise<void> {
    if (w.removed || this.closed) return;
    const d = w.desired;
    const runtime = this.runtimeOf(w);
    if (!runtime) {
      this.setState(w, 'crashed', `no ${d.target} runtime on host ${this.hostId}`);
      return;
    }
    const workDir = join(this.instancesDir, d.id);
    try {
      if (this.opts.prepare) {
        await this.opts.prepare(d);
        if (w.removed || this.closed) return;
      }
      // The artifact must still be what its release built: from the cache (one stat, no
      // yield) when the blob is unchanged since it was last hashed.
      const bad = this.integrityCached(d) ?? await this.integrity(d);
      if (w.removed || this.closed) return;
      if (bad) {
        this.refuse(w, bad);
        return;
      }
      // Synchronous on purpose: from a wake-up to the spawn nothing yields to the event loop,
      // so store writes and other I/O callbacks queued meanwhile run after the app is started.
      mkdirSync(workDir, { recursive: true });
      const hostPort = await this.takePort();
      if (w.removed || this.closed) {
        this.ports.release(hostPort);
        return;
      }
      w.status.port = hostPort; // held by this instance from here (holdsPort), also while it starts
      w.successes = 0;
      w.failures = 0;
      w.lastProbe = null;
      // The output a crash or a diagnosis quotes is this attempt's, not the last boot's shutdown.
      w.lastLines = [];
      w.launches += 1;
      w.startProbes = 0;
      w.startAbort?.abort();
      w.startAbort = new AbortController();
      w.startChecks = 0;
      setMaxListeners(START_CHECKS.dropped.inFlight * 2, w.startAbort.signal); // one listener per check in flight
      w.firstRefusedAt = null;
      w.probing = false;
      w.status.nextRetryAt = null;
      w.status.startedAt = this.opts.now();
      w.status.healthyAt = null;
      w.status.cpu = null;
      w.status.state = 'starting';
      // A restart goes on saying why the last attempt failed (ps, the dashboard) until it is
      // healthy: a restart after a crash is at once, so `crashed` alone is rarely seen.
      w.status.reason = w.status.restarts > 0 && w.lastFailure ? `last attempt: ${w.lastFailure}` : null;
      // Reported a turn later, once the runtime below has spawned: what the controller does
      // on 'starting' (route table, planner, store row) must not delay a cold start.
      const launch = w.launches;
      setImmediate(() => {
        if (launch === w.launches && w.status.state === 'starting') this.report(w);
      });
      let handle;
      try {
        handle = await runtime.start(
          {
            id: d.id, app: d.app, version: d.version, target: d.target,
            artifactPath: this.opts.artifactPath(d.artifactSha256),
            ...(d.initrdSha256 ? { initrdPath: this.opts.artifactPath(d.initrdSha256) } : {}),
            args: d.args, env: d.env, guestPort: d.guestPort, memoryBytes: d.memoryBytes, ...(d.cpu !== undefined ? { cpu: d.cpu } : {}),
            ...(d.cmdline ? { cmdline: d.cmdline } : {}),
            ...(d.network ? { network: d.network } : {}),
            workDir, hostPort,
          },
          (line, stream) => {
            w.lastLines.push(line);
            if (w.lastLines.length > CRASH_LINES) w.lastLines.shift();
            this.opts.onConsole(d.app, d.id, line, stream);
          },
        );
      } finally {
        this.ports.release(hostPort);
      }
      if (w.removed || this.closed) {
        await runtime.stop(d.id, { graceMs: 1000 });
        return;
      }
      // A runtime that listens on loopback (the process target) is reached from other hosts at
      // the advertised address; a tap guest's own address stays as it is.
      w.status.address = this.opts.advertise && handle.address === '127.0.0.1' ? this.opts.advertise : handle.address;
      w.probeAddress = handle.address;
      w.status.port = handle.port;
      w.unanswered = handle.unanswered ?? 'refused';
      w.status.pid = handle.pid;
      this.report(w);
      this.opts.onEvent({ type: 'instance.started', app: d.app, instance: d.id, message: `started ${d.id} (v${d.version}) on port ${handle.port}`, data: { pid: handle.pid, port: handle.port } });
      this.scheduleProbe(w, 0);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      if (isLocalExhaustion(e)) {
        // This host is out of descriptors or memory (spawn EMFILE): not the app's fault, so
        // no crash is counted; try again shortly, saying why.
        w.status.state = 'pending';
        w.status.reason = `waiting for this host's resources: ${msg}`;
        this.report(w);
        if (w.timer) clearTimeout(w.timer);
        w.timer = setTimeout(() => {
          w.timer = null;
          void this.launch(w);
        }, 1000);
        return;
      }
      this.crashed(w, `failed to start: ${msg}`, 'start');
    }
  }

  private blobs(d: DesiredInstance): { what: 'artifact' | 'initrd'; sha256: string; path: string }[] {
    return [
      { what: 'artifact' as const, sha256: d.artifactSha256, path: this.opts.artifactPath(d.artifactSha256) },
      ...(d.initrdSha256 ? [{ what: 'initrd' as const, sha256: d.initrdSha256, path: this.opts.artifactPath(d.initrdSha256) }] : []),
    ];
  }

  /** false when every blob of the instance is known intact without hashing; else undefined (check). */
  private integrityCached(d: DesiredInstance): false | undefined {
    return this.blobs(d).every((b) => this.opts.verifier.cached(b.path, b.sha256)?.ok === true) ? false : undefined;
  }

  /** What is wrong with the instance's artifact or initrd, or false when both hash to the
   *  digests its release recorded. A bad local copy is fetched again once when it can be. */
  private async integrity(d: DesiredInstance): Promise<IntegrityFailure | false> {
    for (const b of this.blobs(d)) {
      let v: Verdict = await this.opts.verifier.verify(b.path, b.sha256);
      let refetch: string | null = null;
      if (!v.ok && this.opts.refetch) {
        const was = v.kind;
        try {
          this.opts.verifier.forget(b.path);
          await this.opts.refetch(b.sha256);
          v = await this.opts.verifier.verify(this.opts.artifactPath(b.sha256), b.sha256);
          refetch = v.ok ? 'fetched again from the control plane and verified' : 'fetched again from the control plane, and that copy does not match either';
        } catch (e) {
          refetch = `fetching it again failed: ${e instanceof Error ? e.message : String(e)}`;
        }
        this.opts.onEvent({
          type: 'artifact.refetched', app: d.app, instance: d.id,
          message: `${b.what} of v${d.version} (sha256 ${b.sha256.slice(0, 12)}…) was ${was} on host ${this.hostId}: ${refetch}`,
          data: { version: d.version, file: b.what, sha256: b.sha256, was, ok: v.ok },
        });
      }
      if (!v.ok) return { what: b.what, verdict: v, refetch };
    }
    return false;
  }

  /** The instance is not started and not retried: its code is not what was built. The
   *  control plane marks the release broken (artifact.altered / artifact.missing). */
  private refuse(w: Worker, f: IntegrityFailure): void {
    const d = w.desired;
    const v = f.verdict;
    const cause = v.kind === 'altered'
      ? 'the blob store file was changed after the release was built'
      : 'the blob store lost the file after the release was built';
    const message = `${describeVerdict(v, `${f.what} of v${d.version}`)}; ${cause}${f.refetch ? ` (${f.refetch})` : ''}; ${d.id} not started`;
    // A process a previous run left for this instance to adopt does not run on either.
    void this.runtimeOf(w)?.stop(d.id, { graceMs: 0 });
    if (w.timer) clearTimeout(w.timer);
    w.timer = null;
    const s = w.status;
    s.pid = null;
    s.nextRetryAt = null;
    this.setState(w, 'crashed', message);
    this.opts.onEvent({
      type: `artifact.${v.kind}`, app: d.app, instance: d.id, message,
      data: {
        version: d.version, file: f.what, expected: v.expected, ...(v.kind === 'altered' ? { actual: v.actual } : {}),
        path: v.path, host: this.hostId, ...(f.refetch ? { refetch: f.refetch } : {}),
      },
    });
  }

  private scheduleProbe(w: Worker, delayMs: number): void {
    if (w.removed || w.stopping || this.closed) return;
    if (w.timer) clearTimeout(w.timer);
    w.timer = setTimeout(() => void this.probe(w), delayMs);
  }

  private async probe(w: Worker): Promise<void> {
    w.timer = null;
    const s = w.status;
    if (w.removed || w.stopping || this.closed || s.port === null) return;
    if (s.state !== 'starting' && s.state !== 'healthy' && s.state !== 'unhealthy') return;
    const h = w.desired.health;
    const startedState = s.state;
    const starting = startedState === 'starting';
    // Starting: overlapping checks (see START_CHECKS); a finishing one may schedule the next.
    const plan = START_CHECKS[w.unanswered];
    if (starting ? w.startProbes >= plan.inFlight : w.probing) return;
    const launch = w.launches;
    const overlap = plan.everyMs?.(h.timeoutMs);
    const opts: ProbeOptions = { timeoutMs: h.timeoutMs };
    if (starting) {
      w.startProbes += 1;
      if (overlap !== undefined) this.scheduleProbe(w, Math.max(this.startProbeDelay(w, this.opts.now()), overlap));
      if (w.startAbort) opts.signal = w.startAbort.signal;
      if (plan.connectTimeoutMs !== undefined && w.startChecks++ % plan.fullEvery !== 0) opts.connectTimeoutMs = plan.connectTimeoutMs;
    } else {
      w.probing = true;
    }
    const r = h.kind === 'http' && h.path
      ? await probeHttp(w.probeAddress, s.port, h.path, opts)
      : await probeTcp(w.probeAddress, s.port, opts);
    if (launch === w.launches) {
      if (starting) w.startProbes -= 1;
      else w.probing = false;
    }
    // The instance may have exited, restarted or been removed while the probe was in flight.
    if (w.removed || w.stopping || launch !== w.launches || s.state !== startedState) return;
    w.lastProbe = r;
    const now = this.opts.now();
    if (r.refused && starting) w.firstRefusedAt ??= now;
    if (r.local) {
      // Summon's own host is out of descriptors or buffers: neither a success nor a failure.
      this.scheduleProbe(w, starting ? this.startProbeDelay(w, now) + 10 : h.intervalMs);
      return;
    }
    if (r.ok) {
      w.failures = 0;
      w.successes += 1;
      if (s.state !== 'healthy' && w.successes >= h.healthyThreshold) {
        w.everHealthy = true;
        s.healthyAt = now;
        w.startAbort?.abort();
        w.startAbort = null;
        w.portTaken = 0;
        this.setState(w, 'healthy', r.detail);
        this.opts.onEvent({ type: 'instance.healthy', app: s.app, instance: s.id, message: `${s.id} is healthy (${r.detail})`, data: { bootMs: now - (s.startedAt ?? now) } });
      }
    } else {
      w.successes = 0;
      // While booting, "not reachable yet" is expected; only answers that say unhealthy count.
      if (s.state !== 'starting' || r.answered) w.failures += 1;
      if (w.failures >= h.unhealthyThreshold) {
        this.opts.onEvent({ type: 'instance.unhealthy', app: s.app, instance: s.id, message: `${s.id} failed ${w.failures} health checks in a row: ${r.detail}`, data: { detail: r.detail } });
        this.setState(w, 'unhealthy', `failed ${w.failures} health checks in a row: ${r.detail}`);
        await this.restart(w, `unhealthy: ${r.detail}`);
        return;
      }
      if (s.state === 'starting' && now - (s.startedAt ?? now) > h.graceMs) {
        // The runtime may see why (a VM guest's DHCP, ARP, port): that says more than the
        // last check's "not connected within 20 ms".
        await this.restart(w, `not healthy within ${Math.round(h.graceMs / 1000)}s of starting`, `(last check: ${r.detail})`, () => this.diagnose(w, r));
        return;
      }
    }
    if (s.state !== 'starting') this.scheduleProbe(w, h.intervalMs);
    // Refused: the next check at once. Otherwise, when checks overlap, the timer set as this
    // one began already holds the next.
    else if (r.refused || overlap === undefined || w.timer === null) this.scheduleProbe(w, this.startProbeDelay(w, now));
  }

  /** While an instance starts, check often (a process is often ready in a few tens of ms,
   *  a guest soon after its network refuses, and a refused connect costs microseconds), then
   *  back off to startProbeMs. The clock starts at the first refusal when there was one. */
  private startProbeDelay(w: Worker, now: number): number {
    const since = now - (w.firstRefusedAt ?? w.status.startedAt ?? now);
    const cap = Math.min(this.opts.startProbeMs, w.desired.health.intervalMs);
    return Math.min(cap, since < 1000 ? 1 : since < 10_000 ? 10 : cap);
  }


  /** Stops an instance that is still running but broken, then treats it like a crash. With
   *  `explain`, the runtime's diagnosis (asked before the stop, while the instance still runs)
   *  replaces `detail` and the generic tail of output. */
  private async restart(w: Worker, reason: string, detail = '', explain?: () => Promise<string | undefined>): Promise<void> {
    w.stopping = true;
    // Checks still in flight end now: none of them may count or restart it again.
    w.startAbort?.abort();
    const diagnosis = explain ? await explain().catch(() => undefined) : undefined;
    await this.runtimeOf(w)?.stop(w.status.id, { graceMs: 1000 });
    w.stopping = false;
    if (w.removed) return;
    if (diagnosis) this.crashed(w, `${reason}. ${diagnosis}`, 'unhealthy', false, false);
    else this.crashed(w, detail ? `${reason} ${detail}` : reason, 'unhealthy');
  }

  private async diagnose(w: Worker, last: ProbeResult): Promise<string | undefined> {
    const runtime = this.runtimeOf(w);
    if (!runtime?.diagnose) return undefined;
    return runtime.diagnose(w.status.id, {
      lastCheck: { refused: last.refused, answered: last.answered, detail: last.detail }, consoleTail: w.lastLines.slice(-CRASH_LINES),
    });
  }

  private onExit(id: string, code: number | null, signal: string | null, oomKilled = false): void {
    const w = this.workers.get(id);
    if (!w || w.stopping || w.removed) return;
    const how = oomKilled
      ? `oom-killed: went over its memory limit of ${formatSize(w.desired.memoryBytes)} ([run].memory)`
      : signal ? `killed by ${signal}` : `exited with code ${code}`;
    const port = w.status.port;
    if (w.status.state !== 'starting' || oomKilled || port === null || w.portTaken >= PORT_TAKEN_RETRIES) {
      this.crashed(w, how, 'exit', oomKilled);
      return;
    }
    // Gone before it was ever healthy on this port: if something else listens there now, the
    // instance lost a race for its port (another program bound it first) and its exit is not
    // the app's fault: start it again on another port, counting no crash.
    const launch = w.launches;
    void this.opts.portIsFree(port).then((free) => {
      if (launch !== w.launches || w.stopping || w.removed || this.closed) return;
      if (free) {
        this.crashed(w, how, 'exit');
        return;
      }
      w.portTaken += 1;
      if (w.timer) clearTimeout(w.timer);
      w.timer = null;
      w.status.pid = null;
      w.status.port = null;
      this.opts.onEvent({
        type: 'instance.port_taken', app: w.status.app, instance: id,
        message: `${id} ${how} while starting, and port ${port} is held by another program: starting it on another port (not counted as a crash)`,
        data: { port, how, attempt: w.portTaken },
      });
      void this.launch(w);
    });
  }

  /** `cause` tells metrics an exit apart from a start that failed and a restart the agent chose (failed health checks). */
  private crashed(w: Worker, how: string, cause: 'exit' | 'start' | 'unhealthy' = 'exit', oomKilled = false, withTail = true): void {
    if (w.timer) clearTimeout(w.timer);
    const s = w.status;
    s.restarts += 1;
    // Backoff grows with crashes in a row; an instance that had been healthy for a while
    // starts again from an immediate restart.
    const now = this.opts.now();
    if (s.healthyAt !== null && now - s.healthyAt >= STABLE_MS) w.crashStreak = 0;
    w.crashStreak += 1;
    const delay = restartDelayMs(w.crashStreak);
    s.pid = null;
    s.nextRetryAt = now + delay;
    const tail = withTail && w.lastLines.length ? ` — last output: ${w.lastLines.slice(-3).join(' | ')}` : '';
    const probe = withTail && w.lastProbe && !w.lastProbe.ok ? ` — last health check: ${w.lastProbe.detail}` : '';
    w.lastFailure = `${how}${probe}${tail}`;
    this.setState(w, 'crashed', w.lastFailure);
    this.opts.onEvent({
      type: 'instance.crashed', app: s.app, instance: s.id,
      message: `${s.id} ${how}; restart ${s.restarts} in ${delay} ms`,
      data: { how, cause, ...(oomKilled ? { oomKilled: true } : {}), restarts: s.restarts, delayMs: delay, everHealthy: w.everHealthy, lastLines: w.lastLines.slice(-CRASH_LINES), lastHealth: w.lastProbe?.detail ?? null },
    });
    w.timer = setTimeout(() => {
      w.timer = null;
      void this.launch(w);
    }, delay);
  }

  private async remove(w: Worker): Promise<void> {
    w.removed = true;
    w.stopping = true;
    if (w.timer) clearTimeout(w.timer);
    w.startAbort?.abort();
    await w.launching?.catch(() => undefined);
    await this.runtimeOf(w)?.stop(w.status.id, { graceMs: this.opts.stopGraceMs });
    this.workers.delete(w.status.id);
    w.status.state = 'stopped';
    w.status.pid = null;
    w.status.reason = 'stopped by the control plane';
    this.report(w);
    this.opts.onEvent({ type: 'instance.stopped', app: w.status.app, instance: w.status.id, message: `stopped ${w.status.id}` });
    await rm(join(this.instancesDir, w.status.id), { recursive: true, force: true });
  }

  private async sampleStats(): Promise<void> {
    for (const w of this.workers.values()) {
      if (w.removed || w.status.pid === null) continue;
      const st = await this.runtimeOf(w)?.stats(w.status.id);
      if (!st) continue;
      w.status.cpu = st.cpu;
      w.status.memoryBytes = st.memoryBytes;
      this.report(w);
    }
  }

  private persist(list: DesiredInstance[]): void {
    const file = join(this.opts.dataDir, 'desired.json');
    const body = JSON.stringify({ hostId: this.hostId, instances: list });
    // Chained so an older set can never land after a newer one, and begun a turn later so the
    // file system work does not compete with a spawn this set asks for.
    this.persistChain = this.persistChain.then(() => new Promise<void>((r) => setImmediate(r))).then(async () => {
      await mkdir(this.opts.dataDir, { recursive: true });
      await writeFile(`${file}.tmp`, body);
      await rename(`${file}.tmp`, file);
    }).catch((err: unknown) => {
      // The instances run as set; only a restart of this agent would resume an older set.
      this.opts.logger.warn({ err, file }, 'desired set not saved');
    });
  }

  private async loadDesired(): Promise<DesiredInstance[]> {
    try {
      const raw = JSON.parse(await readFile(join(this.opts.dataDir, 'desired.json'), 'utf8')) as { instances: DesiredInstance[] };
      return Array.isArray(raw.instances) ? raw.instances : [];
    } catch {
      return [];
    }
  }
}
