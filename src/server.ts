// The one composition root: wires a whole Summon node (API, git endpoint, router, control
// plane, one local agent, the store) for `summon up`.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { hostname, totalmem } from 'node:os';
import { WebSocketServer } from 'ws';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, type AgentEvent } from './agent/agent.js';
import { RemoteAgent } from './agent/remote-agent.js';
import { loadOrMakeAgentCert } from './agent/agent-tls.js';
import { JoinedHosts } from './control/joined-hosts.js';
import { listenPolyglot } from './api/polyglot.js';
import { bearerOf } from './api/auth.js';
import type { Instance } from './core/types.js';
import { isReachable, type HostAgent } from './agent/host-agent.js';
import { createApiServer } from './api/api.js';
import { AuthLimiter, type AuthLimiterOptions } from './api/auth-limiter.js';
import { Authenticator } from './api/auth.js';
import { AuditLog } from './api/audit-log.js';
import { PushGrants } from './api/push-grants.js';
import { adoptAdminToken } from './api/first-admin.js';
import { hostCredential } from './agent/host-credential.js';
import { SummonMetrics } from './api/metrics-registry.js';
import { BlobStore } from './artifacts/blob-store.js';
import { GitHttpBackend } from './git/git-http.js';
import { BuildPipeline } from './builder/pipeline.js';
import { recoverBuilds } from './builder/build-recovery.js';
import { RepoManager } from './git/repos.js';
import { Controller } from './control/controller.js';
import { EventBus } from './control/event-bus.js';
import { LogStore } from './control/log-store.js';
import { ReleaseService } from './control/release-service.js';
import { SmokeRunner } from './control/smoke.js';
import { Secrets } from './control/secrets.js';
import { EdgeService } from './control/edge-service.js';
import { AcmeManager } from './acme/manager.js';
import { LETS_ENCRYPT_DIRECTORY } from './acme/issuer.js';
import { SeriesRecorder } from './api/series.js';
import { EmailNotifier, type EmailOptions } from './notify/email.js';
import { WebhookNotifier } from './notify/webhooks.js';
import { DrainManager, type DrainSettings } from './drains/drain-manager.js';
import { InvalidInputError, SummonError } from './core/errors.js';
import { checkPrice } from './core/usage.js';
import { DnsServer } from './router/dns/dns-server.js';
import { Router, type ClientLimitOptions } from './router/router.js';
import { DataPlaneClient } from './router/dataplane-client.js';
import { probeHaproxy } from './router/haproxy/process.js';
import { ProcessRuntime } from './runtimes/process/process-runtime.js';
import { makeDataDir, openConfinement, tightenDataDir } from './isolation/data-dir.js';
import type { Confiner } from './isolation/confine.js';
import type { UidRange } from './isolation/uids.js';
import type { Runtime } from './runtimes/runtime.js';
import { SUMMON_VERSION } from './core/version.js';
import { openStore, parseStoreUrl } from './store/open.js';
import { AgentServer } from './agent/agent-server.js';
import { APP_NAME_RE } from './core/names.js';
import { ClusterNode, type AppStat } from './cluster/cluster-node.js';
import { DEFAULT_LEASE, readLease } from './cluster/lease.js';
import { fencedStore } from './cluster/fenced-store.js';
import { PgBlobs } from './cluster/pg-blobs.js';
import { PublishingRouter, forwardWhileFollowing, gateAgent } from './cluster/wiring.js';
import type { ClusterView } from './sdk/types.js';
import type { Store } from './store/store.js';
import { createLogger, silentLogger, type Logger, type LoggerOptions } from './logging/logger.js';

const here = dirname(fileURLToPath(import.meta.url));

export interface SummonOptions {
  dataDir: string;
  apiPort?: number;
  routerPort?: number;
  /** `--https-port`: HTTPS on the data plane (certificates by SNI from the edge state); 0 is any
   *  free port; absent or null (`--no-https`; embedders and tests by default): none. */
  httpsPort?: number | null;
  /** certs:auto (acme/manager.ts): `--acme-directory` (default Let's Encrypt's production
   *  directory), `--acme-email`, `--acme-ca`'s PEM; the backoff for tests. */
  acme?: { directoryUrl?: string; email?: string; ca?: string; retryBaseMs?: number; retryMaxMs?: number };
  /** Address the API and router listen on. */
  host?: string;
  /** Apps answer at NAME.localhost and NAME.<domain>. */
  domain?: string;
  dnsPort?: number;
  /** sqlite:PATH (default: DATA/summon.db) or postgres://… */
  storeUrl?: string;
  hold?: { maxRequests?: number; maxWaitMs?: number };
  /** Router client connection limits and timeouts (`--max-connections` and friends). */
  routerClient?: ClientLimitOptions;
  autoscale?: { outMs?: number; inMs?: number; cooldownMs?: number };
  deployDeadlineMs?: number;
  logBytesPerApp?: number;
  /** `--max-push-size` (default 500M) and `--max-checkout-size` (default 1G). */
  maxPushBytes?: number;
  maxCheckoutBytes?: number;
  /** `--max-build-disk` (default 2G): what a build may write into its directory. */
  maxBuildDiskBytes?: number;
  /** `--unconfined`: builds and process instances run as Summon's user (isolation/data-dir.ts). */
  unconfined?: boolean;
  /** `--uid-range FIRST-LAST`: the uids Summon gives apps (default 520000-585535). */
  uidRange?: UidRange;
  /** `--build-ro DIR`: host directories builds see read-only beside /usr and /etc. */
  buildReadOnly?: string[];
  /** Extra runtimes (qemu, solo5) beside the process runtime. */
  extraRuntimes?: (stateDir: string, confiner?: Confiner, logger?: Logger) => Promise<Runtime[]>;
  /** 'process' (what `summon up` runs): the router is a process of its own (router/dataplane.ts)
   *  that outlives this one and is adopted by the next start; 'embedded' (default: embedders,
   *  in-process tests): the router runs in this process and stops with it. */
  dataPlane?: 'embedded' | 'process';
  /** Which data plane the process runs (`--data-plane`): HAProxy, the Node router, or auto
   *  (HAProxy when a usable one, 2.6 or later, is installed; else the Node router). */
  dataPlaneKind?: 'auto' | 'haproxy' | 'node';
  /** Leave instances running when Summon stops, for the next start to adopt (`summon up`'s
   *  default; `--stop-apps-on-exit` stops them). Default here: stop them (embedders, tests). */
  keepInstances?: boolean;
  /** `--price-per-instance-second`: GET /api/usage and `summon usage` show a cost with it. */
  pricePerInstanceSecond?: number;
  /** Least observed time before rightsizing advice other than for OOM kills (default 1 h). */
  adviceMinWindowMs?: number;
  /** Dashboard chart sample interval (default 5 s; one hour is kept, in the store). */
  seriesIntervalMs?: number;
  /** Webhook retries: first retry after retryBaseMs (default 500), doubling, maxAttempts in all (default 5).
   *  allowPrivate (`--webhooks-allow-private`): loopback, private, link-local and metadata targets are not refused. */
  webhooks?: { retryBaseMs?: number; maxAttempts?: number; allowPrivate?: boolean };
  /** Log drains: allowPrivate is `--drains-allow-private`, ca the PEM of `--drain-ca FILE`; the
   *  rest (buffer bounds, backoff, report interval) for tests and benchmarks. */
  drains?: DrainSettings;
  /** Email operators on failed releases, crash loops, scale.max and unreachable hosts
   *  (`--smtp`, `--smtp-ca`, `--mail-from`, `--mail-to`). */
  email?: EmailOptions;
  /** Agents on other hosts (`summon agent`), beside the one in this process. */
  remoteAgents?: { id: string; url: string }[];
  /** A host unreachable this long has its instances started elsewhere (default 60 s). */
  hostLostAfterMs?: number;
  /** Summon's own log (`--log-level`; logging/logger.ts): JSON lines on stderr, readable ones
   *  where stderr is a terminal. Without it nothing is logged (embedders, in-process tests). */
  log?: LoggerOptions;
  /** Failed authentications allowed per client address (api/auth-limiter.ts; default 10 a minute). */
  authLimit?: AuthLimiterOptions;
  /** `--node-id`: this node's name among the control-plane nodes of one PostgreSQL store, and
   *  its local agent's host id (default: the host name). */
  nodeId?: string;
  /** `--advertise ADDR`: the address other nodes reach this one's API, agent and instances at
   *  (default: --host, or 127.0.0.1 for 0.0.0.0). */
  advertise?: string;
  /** Several control-plane nodes (a postgres:// store): the lease's timing (cluster/lease.ts),
   *  the heartbeat and the routes' fallback poll. */
  cluster?: { ttlMs?: number; renewMs?: number; marginMs?: number; heartbeatMs?: number; pollMs?: number };
}

export interface RunningSummon {
  apiUrl: string;
  routerUrl: string;
  /** https://HOST:PORT of the data plane's HTTPS, null when it is off. */
  routerHttpsUrl: string | null;
  dnsPort: number | null;
  token: string;
  /** The secret every host's own credential is derived from (agent/host-credential.ts), kept in
   *  DATA/agent.token: `summon hosts:credential ID` prints one host's. */
  agentToken: string;
  dataDir: string;
  store: Store;
  /** Custom domains, certificates, ACME answers and HTTPS policies, sent to the data planes. */
  edge: EdgeService;
  /** The data plane: the router in this process, or the client of the data plane process. */
  router: Router | DataPlaneClient;
  controller: Controller;
  logs: LogStore;
  /** Summon's own log, for the last resort (cli/last-resort.ts). */
  logger: Logger;
  /** What a previous run that died (kill -9) left half done, cleaned up at this start. */
  recovered: { buildProcesses: number; buildDirs: number; releases: number };
  /** With a postgres:// store: this node's name, the store, and whether it leads now. */
  cluster: { node: string; store: string; leading(): boolean } | null;
  /** Which data plane carries app traffic on this host, and why that one. */
  dataPlane: DataPlaneInfo;
  stop(): Promise<void>;
}

export interface DataPlaneInfo {
  dataPlane: 'node' | 'haproxy';
  /** HAProxy's version when it is the data plane. */
  haproxy?: string;
  reason: string;
}

/** `--data-plane`: auto is HAProxy when a usable one (2.6 or later) is installed, else Node. */
export function resolveDataPlane(want: 'auto' | 'haproxy' | 'node'): { kind: 'node' | 'haproxy'; reason: string } {
  if (want === 'node') return { kind: 'node', reason: '--data-plane node' };
  const p = probeHaproxy();
  if (p.ok) return { kind: 'haproxy', reason: want === 'auto' ? `--data-plane auto: HAProxy ${p.version} found` : '--data-plane haproxy' };
  if (want === 'haproxy') {
    throw new SummonError('invalid_input', `--data-plane haproxy: no usable HAProxy (${p.reason}); install it (scripts/setup.sh, Debian's haproxy package) or use --data-plane node`);
  }
  return { kind: 'node', reason: `--data-plane auto: no usable HAProxy (${p.reason})` };
}

function checkPort(name: string, v: number | undefined): number {
  const p = v ?? 0;
  if (!Number.isInteger(p) || p < 0 || p > 65535) throw new InvalidInputError(`${name} must be a port number 0-65535, got ${String(v)}`);
  return p;
}

async function loadOrCreateToken(dataDir: string, name = 'admin.token', prefix = 'sk_'): Promise<string> {
  const file = join(dataDir, name);
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    const token = `${prefix}${randomBytes(24).toString('base64url')}`;
    await writeFile(file, `${token}\n`, { mode: 0o600 });
    return token;
  }
}

/** The ids in the local agent's saved desired set (agent.ts persist()), none when there is none. */
async function savedInstanceIds(agentDir: string): Promise<Set<string>> {
  try {
    const raw = JSON.parse(await readFile(join(agentDir, 'desired.json'), 'utf8')) as { instances?: { id?: unknown }[] };
    return new Set((raw.instances ?? []).map((d) => d.id).filter((id): id is string => typeof id === 'string'));
  } catch {
    return new Set();
  }
}

export async function startSummon(o: SummonOptions): Promise<RunningSummon> {
  const dataDir = resolve(o.dataDir);
  const apiPort = checkPort('--api-port', o.apiPort);
  const routerPort = checkPort('--router-port', o.routerPort);
  const httpsPort = o.httpsPort == null ? null : checkPort('--https-port', o.httpsPort);
  if (httpsPort !== null && httpsPort !== 0 && httpsPort === routerPort) {
    throw new InvalidInputError(`--https-port ${httpsPort} is --router-port too: give HTTPS a port of its own (or --no-https)`);
  }
  const host = o.host ?? '127.0.0.1';
  const price = o.pricePerInstanceSecond !== undefined ? checkPrice(o.pricePerInstanceSecond) : null;
  if (o.domain !== undefined && !/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i.test(o.domain)) {
    throw new InvalidInputError(`--domain must be a DNS name like apps.example.com, got ${JSON.stringify(o.domain)}`);
  }
  const logger = o.log ? createLogger({ name: 'summon up', ...o.log }) : silentLogger();
  const part = (component: string) => logger.child({ component });
  await makeDataDir(dataDir);
  const now = Date.now;
  const storeUrl = o.storeUrl ?? join(dataDir, 'summon.db');
  const nodeId = o.nodeId ?? (hostname() || 'local');
  const storeLoc = parseStoreUrl(storeUrl);
  if (storeLoc.kind === 'postgres' && !APP_NAME_RE.test(nodeId)) {
    throw new InvalidInputError(`--node-id must be a name of lowercase letters, digits and dashes (it names this control-plane node and its host), got ${JSON.stringify(nodeId)}${o.nodeId ? '' : ' from the host name: pass --node-id'}`);
  }
  const store = await openStore(storeUrl);
  const cleanup: (() => Promise<unknown>)[] = [() => store.close()];
  // Several control-plane nodes on one PostgreSQL (src/cluster/): closed after everything
  // else (the controller's last writes are still fenced by the lease), releasing the lease.
  const cluster = storeLoc.kind === 'postgres' ? new ClusterNode({
    url: storeLoc.url, node: nodeId, version: SUMMON_VERSION, logger: part('cluster'),
    lease: { ...o.cluster }, ...(o.cluster?.heartbeatMs ? { heartbeatMs: o.cluster.heartbeatMs } : {}), ...(o.cluster?.pollMs ? { pollMs: o.cluster.pollMs } : {}),
  }) : null;
  if (cluster) cleanup.unshift(() => cluster.close());
  /** Whether this node runs the reconcile loops: always with SQLite; with PostgreSQL while it holds the lease. */
  let leading = cluster === null;
  try {
    const audit = new AuditLog({ store, now, logger: part('audit') });
    // DATA/admin.token is the first admin's token (api/first-admin.ts); a revoked one is replaced.
    const adopted = await adoptAdminToken(store, await loadOrCreateToken(dataDir), now(), audit);
    if (adopted.replaced) {
      await writeFile(join(dataDir, 'admin.token'), `${adopted.token}\n`, { mode: 0o600 });
      logger.warn({ file: join(dataDir, 'admin.token') }, adopted.replaced);
    }
    const token = adopted.token;
    const agentToken = await loadOrCreateToken(dataDir, 'agent.token', 'ak_');
    // The API port's own certificate, for its HTTPS (api/polyglot.ts): joining hosts pin it.
    const certForJoins = await loadOrMakeAgentCert(join(dataDir, 'tls'), 'control');
    const auth = new Authenticator({
      store, now, limiter: new AuthLimiter({ now, ...o.authLimit }),
      onTouchFailed: (err) => logger.warn({ err, component: 'auth' }, 'token last-used time not stored'),
    });
    const pushes = new PushGrants();
    const secrets = await Secrets.open(dataDir);
    if (cluster) {
      // Config vars are encrypted with the master key: every node must have the same one.
      const check = secrets.derive('master key check');
      await cluster.pool.query(`insert into settings (key, value) values ('cluster.key_check', $1) on conflict do nothing`, [check]);
      const r = await cluster.pool.query<{ value: string }>(`select value from settings where key = 'cluster.key_check'`);
      if (r.rows[0]?.value !== check) {
        throw new InvalidInputError('this node\'s master key is not the one the other control-plane nodes of this store use (config vars are encrypted with it): give every node the same SUMMON_MASTER_KEY, or copy DATA/master.key from a node that runs');
      }
    }
    const logs = new LogStore({ dir: join(dataDir, 'logs'), logger: part('logs'), ...(o.logBytesPerApp ? { maxBytesPerApp: o.logBytesPerApp } : {}) });
    await logs.load((await store.listApps()).map((a) => a.name));
    await tightenDataDir(dataDir);
    const events = new EventBus({ store, logs, now, logger: part('events') });
    // Subscribed before anything emits; what it reads at scrape time (router, controller,
    // agents) is wired below.
    const metrics = new SummonMetrics({
      router: { metrics: () => router.metrics(), appStats: (app) => router.appStats(app) },
      instances: () => controller.instances(),
      hosts: () => agents.map((a) => ({ id: a.hostId, up: isReachable(a) })),
    });
    events.subscribe((e) => metrics.observe(e));
    const webhooks = new WebhookNotifier({ store, events, now, logger: part('webhooks'), ...o.webhooks });
    cleanup.unshift(() => webhooks.close());
    // Before anything logs about an app, so its drains get every line from here on; closed
    // after the logs are flushed (below), so they get the last ones too.
    const drains = new DrainManager({ store, logs, events, now, ...o.drains });
    cleanup.unshift(() => drains.close());
    await drains.start();
    if (o.email) {
      const email = new EmailNotifier({ ...o.email, events, now });
      // Waits for the mail under way; its email.sent / email.failed are stored and logged too.
      cleanup.unshift(async () => {
        await email.close();
        await events.drained();
        await logs.flush();
      });
    }
    // Run on stop after everything registered below (API, controller, agents, router) has
    // stopped and said its last: then the events are drained and the logs flushed, before the
    // notifiers and the store close. Flushed earlier, an instance's last lines and its stop
    // event were written after stop() returned (into a data directory being removed).
    cleanup.unshift(() => logs.flush());
    cleanup.unshift(() => events.drained());
    const blobs = new BlobStore({ dir: join(dataDir, 'blobs') });
    const pgBlobs = cluster ? new PgBlobs(cluster.pool, blobs) : null;
    const domains = ['localhost', ...(o.domain ? [o.domain] : [])];

    let controller!: Controller;
    let up = false;
    // Wake-ups asked for before the controller is up (requests a data plane held while no
    // control plane was there) wait for it.
    let controllerUp = false;
    const earlyWakes = new Set<string>();
    const wake = (app: string) => {
      if (controllerUp) controller.wake(app);
      // A follower's data plane holds a request: the leader is told (NOTIFY summon_wake).
      else if (cluster && !leading) void cluster.wake(app).catch((err: unknown) => logger.warn({ err, app }, 'wake-up not sent to the leader'));
      else earlyWakes.add(app);
    };
    const onRouterEvent = (e: { app: string; type: string; message: string; data?: Record<string, unknown> }) => void events.emit(e.app, e.type, e.message, e.data ?? {});
    let router: Router | DataPlaneClient;
    let actualRouterPort: number;
    let actualHttpsPort: number | null = null;
    let dataPlaneInfo: DataPlaneInfo = { dataPlane: 'node', reason: 'the router runs in this process' };
    if (o.dataPlane === 'process') {
      const kind = resolveDataPlane(o.dataPlaneKind ?? 'auto');
      dataPlaneInfo = { dataPlane: kind.kind, reason: kind.reason };
      const dp = await DataPlaneClient.open({
        dataPlane: kind.kind,
        dataDir, port: routerPort, domains, version: SUMMON_VERSION, logger: part('dataplane'),
        ...(host ? { host } : {}),
        ...(o.hold ? { hold: o.hold } : {}),
        ...(o.routerClient ? { client: o.routerClient } : {}),
        ...(httpsPort !== null ? { httpsPort } : {}),
        onWake: wake, onEvent: onRouterEvent,
      });
      dataPlaneInfo = { ...dp.kind, reason: kind.reason };
      logger.info({ component: 'dataplane', ...dp.origin, ...dp.kind, port: dp.port }, dp.origin.adopted ? 'adopted the running data plane' : 'started the data plane');
      router = dp;
      actualRouterPort = dp.port;
      actualHttpsPort = dp.httpsPort;
      // Left serving on a stop that keeps the apps; stopped with them otherwise, and when this
      // start, which started it, failed.
      cleanup.unshift(() => dp.close({ stop: !o.keepInstances || (!up && !dp.origin.adopted) }));
    } else {
      const r = new Router({
        port: routerPort, host, domains, wake,
        ...(o.hold ? { hold: o.hold } : {}),
        ...(o.routerClient ? { client: o.routerClient } : {}),
        ...(httpsPort !== null ? { httpsPort } : {}),
        onEvent: onRouterEvent,
        now,
      });
      ({ port: actualRouterPort, httpsPort: actualHttpsPort } = await r.listen());
      router = r;
      cleanup.unshift(() => r.close(1000));
    }
    // The edge state (custom domains, certificates, ACME answers, policies), sent whole to the
    // data plane now (one adopted from a previous run is told it again) and on every change.
    const edge = new EdgeService({ store, secrets, targets: [router], served: domains, now, logger: part('edge') });
    await edge.start();
    events.subscribe(edge.onEvent);
    // certs:auto: orders and renewals over ACME, one loop, answers and results through the edge.
    const acme = new AcmeManager({
      dataDir, directoryUrl: o.acme?.directoryUrl ?? LETS_ENCRYPT_DIRECTORY,
      ...(o.acme?.email ? { email: o.acme.email } : {}),
      ...(o.acme?.ca ? { ca: o.acme.ca } : {}),
      ...(o.acme?.retryBaseMs !== undefined ? { retryBaseMs: o.acme.retryBaseMs } : {}),
      ...(o.acme?.retryMaxMs !== undefined ? { retryMaxMs: o.acme.retryMaxMs } : {}),
      encrypt: (v) => secrets.encrypt(v), decrypt: (c) => secrets.decrypt(c),
      store, edge,
      emit: (app, type, message, data) => void events.emit(app, type, message, data),
      now, logger: part('acme'),
    });
    await acme.start();
    cleanup.unshift(() => acme.close());
    events.subscribe((e) => {
      if (e.type === 'app.destroyed' && typeof e.data.app === 'string') void acme.forget(e.data.app).catch(() => undefined);
    });
    const routerUrl = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${actualRouterPort}`;
    const routerHttpsUrl = actualHttpsPort === null ? null : `https://${host === '0.0.0.0' ? '127.0.0.1' : host}:${actualHttpsPort}`;
    const appUrl = (app: string) => `http://${app}.${o.domain ?? 'localhost'}:${actualRouterPort}`;

    const stateDir = join(dataDir, 'agent');
    // The instances a previous run left running (a stop that kept them, or kill -9) are adopted
    // by the agent: their cgroup units are not reaped.
    const keepUnits = await savedInstanceIds(stateDir);
    const { confiner, reaped } = await openConfinement(dataDir, { ...(o.unconfined ? { unconfined: true } : {}), ...(o.uidRange ? { uidRange: o.uidRange } : {}), logger: part('isolation'), keepUnits });
    // Runs after the agent stopped (it registers later, so it runs earlier): the directory goes
    // if the stop left no instance in it.
    if (confiner) cleanup.unshift(() => confiner.cgroups.release());
    // What builds of a crashed run left running, killed with their cgroup units just now.
    const reapedBuildProcesses = reaped.filter((r) => r.unit.startsWith('build-')).reduce((n, r) => n + r.processes, 0);
    const runtimes: Runtime[] = [new ProcessRuntime({ stateDir, ...(confiner ? { confiner } : {}) }), ...(o.extraRuntimes ? await o.extraRuntimes(stateDir, confiner, part('vm')) : [])];
    const agentCallbacks = {
      onStatus: (i: Instance) => controller?.onInstanceStatus(i),
      onConsole: (app: string, instance: string, line: string, _stream: string, at?: number) => logs.append(app, 'app', instance, line, at),
      onEvent: (e: AgentEvent) => void events.emit(e.app, e.type, e.message, { instance: e.instance, ...(e.data ?? {}) }, e.at),
    };
    // Several nodes: this node's agent is also served over the agent protocol (agent-server.ts,
    // TLS pinned by the URL each node registers), for whichever node leads; the credential is
    // derived from the master key every node shares. While this node follows, what its agent
    // reports goes to the leader on that stream; while it leads, to its own controller.
    const clusterSecret = cluster ? secrets.derive('control-plane node agents') : null;
    const nodeCert = cluster ? await loadOrMakeAgentCert(join(dataDir, 'tls'), nodeId) : null;
    const agentServer = cluster && nodeCert ? new AgentServer({
      token: hostCredential(clusterSecret!, nodeId), host, port: 0, tls: { key: nodeCert.key, cert: nodeCert.cert }, logger: part('agent-server'),
    }) : null;
    const served = agentServer?.callbacks();
    const agent = new Agent({
      hostId: nodeId, dataDir: stateDir, runtimes,
      artifactPath: (sha) => blobs.path(sha),
      ...(pgBlobs ? {
        // A release placed here that another node built: its artifact comes from the database.
        prepare: async (d: { artifactSha256: string; initrdSha256: string | null }) => {
          await pgBlobs.ensure(d.artifactSha256);
          if (d.initrdSha256) await pgBlobs.ensure(d.initrdSha256);
        },
        refetch: (sha: string) => pgBlobs.refetch(sha),
      } : {}),
      ...(cluster && o.advertise ? { advertise: o.advertise } : {}),
      ...(served ? {
        onStatus: (i: Instance) => (leading ? agentCallbacks.onStatus(i) : served.onStatus(i)),
        onConsole: (app: string, instance: string, line: string, stream: string, at?: number) => (leading ? agentCallbacks.onConsole(app, instance, line, stream, at) : served.onConsole(app, instance, line, stream)),
        onEvent: (e: AgentEvent) => (leading ? agentCallbacks.onEvent(e) : served.onEvent(e)),
      } : agentCallbacks),
      logger: part('agent'),
      now,
    });
    agentServer?.attach(agent);
    if (o.remoteAgents?.length) await mkdir(join(dataDir, 'hosts'), { recursive: true });
    const remotes = (o.remoteAgents ?? []).map((r) => new RemoteAgent({
      hostId: r.id, url: r.url, token: hostCredential(agentToken, r.id), cursorFile: join(dataDir, 'hosts', `${r.id}.cursor`), ...agentCallbacks,
      logger: logger.child({ component: 'remote-agent', host: r.id }),
    }));
    if (new Set([agent.hostId, ...remotes.map((r) => r.hostId)]).size !== remotes.length + 1) {
      throw new InvalidInputError(`every host needs its own id: this host is "${agent.hostId}", --agent gave ${remotes.map((r) => r.hostId).join(', ')}`);
    }
    cleanup.unshift(async () => remotes.forEach((r) => r.close()));
    // The controller's hosts: with several nodes, each passes a desired set on only while this
    // node leads; the other nodes' agents are added when it takes the lease (promote below).
    const gate = (a: HostAgent): HostAgent => (cluster ? gateAgent(a, () => leading) : a);
    const agents: HostAgent[] = [agent, ...remotes].map(gate);
    const publishing = cluster ? new PublishingRouter(router, cluster, part('cluster')) : null;
    // Hosts that joined by dialing out: in the same list, added and removed while Summon runs.
    const joined = new JoinedHosts({
      store, agents, wrap: gate, controller: () => controller, events, callbacks: agentCallbacks, dataDir, now,
      logger: part('joined-hosts'),
    });
    await joined.load();
    cleanup.unshift(async () => joined.close());
    controller = new Controller({
      store: cluster ? fencedStore(store, cluster.db, nodeId, () => cluster.lease.epoch()) : store,
      agents, router: publishing ?? router, events, secrets, now, logger: part('controller'),
      ...(pgBlobs ? {
        // A release never goes live on a blob only one node has.
        beforeRollout: async (rel: { artifactSha256: string | null; initrdSha256: string | null }) => {
          if (rel.artifactSha256) await pgBlobs.upload(rel.artifactSha256);
          if (rel.initrdSha256) await pgBlobs.upload(rel.initrdSha256);
        },
      } : {}),
      ...(o.autoscale ? { autoscale: o.autoscale } : {}),
      ...(o.deployDeadlineMs ? { deployDeadlineMs: o.deployDeadlineMs } : {}),
      ...(o.hostLostAfterMs ? { hostLostAfterMs: o.hostLostAfterMs } : {}),
    });
    controller.setHostMeta(agent.hostId, { memoryBytes: totalmem() });
    joined.publish();
    await agent.start();
    cleanup.unshift(() => agent.close({ stopInstances: !o.keepInstances }));
    let agentUrl: string | null = null;
    const advertised = o.advertise ?? (host === '0.0.0.0' ? '127.0.0.1' : host);
    if (agentServer && nodeCert) {
      const { port } = await agentServer.listen();
      agentUrl = `https://${advertised.includes(':') ? `[${advertised}]` : advertised}:${port}#sha256=${nodeCert.fingerprint}`;
      cleanup.unshift(() => agentServer.close());
    }
    // Remote hosts that do not answer within a few seconds are adopted when they come back.
    await Promise.all(remotes.map((r) => r.start()));
    cleanup.unshift(() => controller.close());
    if (!cluster) {
      await controller.start();
      controllerUp = true;
      for (const app of earlyWakes) controller.wake(app);
      earlyWakes.clear();
      // Every app's route is set: what the data plane still routes beyond them goes.
      if (router instanceof DataPlaneClient) router.sync();
    }
    // The charts' points are kept in the store, so the last hour is there again after a restart.
    const recorder = new SeriesRecorder({
      instances: () => controller.instances(), metrics: () => router.metrics({ answeredOnly: true }), now, store,
      onStoreError: (err) => logger.warn({ err, component: 'series' }, 'chart points not stored'),
      ...(o.seriesIntervalMs ? { intervalMs: o.seriesIntervalMs } : {}),
    });
    await recorder.load().catch((err: unknown) => logger.warn({ err, component: 'series' }, 'stored chart points not read: the charts start empty'));
    recorder.start();
    cleanup.unshift(() => recorder.stop());

    const repos = new RepoManager({ dir: join(dataDir, 'repos'), hookScript: join(here, 'git', 'hook.js') });
    const rehooked = await repos.repairHooks((await store.listApps()).map((a) => a.name));
    if (rehooked.length) logger.info({ component: 'git', apps: rehooked }, `pre-receive hooks pointed at this installation again (${rehooked.length} repositories)`);
    let apiUrl = '';
    const git = new GitHttpBackend({
      ...(o.maxPushBytes ? { maxPushBytes: o.maxPushBytes } : {}),
      repos,
      hookEnv: (app, req) => ({ SUMMON_HOOK_URL: `${apiUrl}/internal/push`, SUMMON_HOOK_TOKEN: pushes.hookToken(req), SUMMON_APP: app }),
    });
    const pipeline = new BuildPipeline({
      workDir: join(dataDir, 'builds'), blobs, summonVersion: SUMMON_VERSION,
      ...(o.maxCheckoutBytes ? { checkoutLimits: { maxBytes: o.maxCheckoutBytes } } : {}),
      ...(o.maxBuildDiskBytes ? { maxBuildDiskBytes: o.maxBuildDiskBytes } : {}),
      ...(confiner ? { confiner, cacheDir: join(dataDir, 'build-cache'), readOnlyPaths: o.buildReadOnly ?? [] } : {}),
    });
    // Before the git endpoint takes a push: what a run that died mid-build left behind.
    const builds = await recoverBuilds(join(dataDir, 'builds'));
    const smoke = new SmokeRunner({
      workDir: join(dataDir, 'builds'), now, gitDirsOf: (r) => [repos.path(r.app)],
      ...(confiner ? { confiner } : {}),
    });
    const releases = new ReleaseService({
      store, controller, pipeline, events, secrets, agents, appUrl, now, logger: part('releases'),
      gitDirOf: (app) => repos.path(app), artifactPath: (sha) => blobs.path(sha), smoke,
      ...(cluster ? { lockApp: (app: string) => cluster.lockApp(app) } : {}),
    });
    // With several nodes, releases left half-made are the leader's to fail (at promote).
    const recovered = { buildProcesses: builds.killed + reapedBuildProcesses, buildDirs: builds.removed.length, releases: cluster ? 0 : await releases.failInterrupted() };
    const { server, fastify } = createApiServer({
      store, controller, releases, repos, git, logs, events, secrets, agents, auth, audit, pushes, agentToken,
      dataPlane: () => (dataPlaneInfo.dataPlane === 'haproxy' ? `haproxy ${dataPlaneInfo.haproxy ?? ''}`.trim() : 'node'),
      joined, controlFingerprint: certForJoins.fingerprint,
      appUrl, gitUrl: (app) => `${apiUrl}/git/${app}.git`,
      metricsText: () => metrics.text(),
      series: (app) => recorder.get(app),
      onAppDestroyed: async (app) => recorder.forget(app),
      artifactPath: (sha) => blobs.path(sha), blobs, uploadDir: join(dataDir, 'uploads'),
      webDir: join(here, '..', 'web'),
      webhooksAllowPrivate: o.webhooks?.allowPrivate === true,
      drains, drainsAllowPrivate: o.drains?.allowPrivate === true, edge, acme,
      pricePerInstanceSecond: price,
      ...(o.adviceMinWindowMs !== undefined ? { adviceMinWindowMs: o.adviceMinWindowMs } : {}),
      cluster: () => clusterView(),
      now,
    });
    await fastify.ready();
    // A follower answers API, git and push-hook requests by forwarding them to the leader.
    if (cluster) forwardWhileFollowing(server, { leading: () => leading, leader: () => cluster.leader(), node: nodeId, log: part('cluster'), proof: secrets.derive('forwarded by a control-plane node') });
    // Joined hosts hold their link open as a WebSocket on the API port, over its TLS.
    const linkServer = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 * 1024 });
    server.on('upgrade', (req, socket, head) => {
      void (async () => {
        const path = (req.url ?? '').split('?')[0];
        if (path !== '/internal/hosts/connect') return socket.destroy();
        const refuse = (status: number, code: string, message: string): void => {
          const body = JSON.stringify({ error: { code, message } });
          socket.end(`HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : 'Bad Request'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
        };
        if (!(socket as { encrypted?: boolean }).encrypted) return refuse(400, 'invalid_input', 'a host\'s link is over https:// only');
        try {
          auth.checkAddress(req);
        } catch (e) {
          return refuse(401, 'rate_limited', (e as Error).message);
        }
        const id = await joined.authenticate(bearerOf(req)).catch(() => null);
        if (!id || !joined.has(id)) {
          auth.failed(req);
          return refuse(401, 'revoked', 'this host\'s credential is not valid: it was removed (summon hosts:remove), or never joined; join it again with a new `summon hosts:join-token`');
        }
        linkServer.handleUpgrade(req, socket, head, (ws) => joined.attach(id, ws, req.socket.remoteAddress ?? 'unknown'));
      })();
    });
    const controlCert = certForJoins;
    const listener = await listenPolyglot(server, controlCert, apiPort, host);
    server.requestTimeout = 0; // pushes stream for as long as the build and rollout take
    cleanup.unshift(async () => {
      await new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
        linkServer.close();
      });
      await listener.close();
    });
    const addr = { port: listener.port };
    apiUrl = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${addr.port}`;

    let dnsPort: number | null = null;
    if (o.dnsPort !== undefined) {
      // The router's address, for every app and for the apex of each --domain (our NS record names the apex).
      const self = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
      const routerAddresses = self.includes(':') ? { a: [], aaaa: [self] } : { a: [self], aaaa: [] };
      const dns = new DnsServer({
        port: checkPort('--dns-port', o.dnsPort), host, domains,
        lookup: (app) => (controller.app(app) ? routerAddresses : null),
        serverAddresses: routerAddresses,
        onLookup: (app) => controller.wake(app),
      });
      dnsPort = (await dns.listen()).port;
      cleanup.unshift(() => dns.close());
    }

    const leaseTiming = { ttlMs: o.cluster?.ttlMs ?? DEFAULT_LEASE.ttlMs, renewMs: o.cluster?.renewMs ?? DEFAULT_LEASE.renewMs };
    const storeName = storeLoc.kind === 'postgres' ? describePostgres(storeLoc.url) : `sqlite:${storeLoc.file}`;
    async function clusterView(): Promise<ClusterView> {
      if (!cluster) return { store: storeName, node: nodeId, leader: null, lease: null, nodes: [] };
      const [nodes, l] = await Promise.all([cluster.nodes(), readLease(cluster.pool)]);
      const holder = l?.valid ? l.holder : null;
      return {
        store: storeName, node: nodeId,
        leader: l && holder ? { node: holder, epoch: l.epoch, since: l.since } : null,
        lease: leaseTiming,
        nodes: nodes.map((n) => ({
          id: n.id, api: n.apiUrl, router: n.routerUrl, version: n.version, startedAt: n.startedAt, seenAt: n.seenAt,
          up: n.ageMs < 3 * (o.cluster?.heartbeatMs ?? 1000) + 2000, leader: n.id === holder,
        })),
      };
    }
    if (cluster) {
      // The nodes' agents the leader commands, beside its own (added at promote and when a node
      // registers later).
      const peerAgents: RemoteAgent[] = [];
      let peerWatch: NodeJS.Timeout | null = null;
      const addPeers = async (): Promise<void> => {
        const fresh: RemoteAgent[] = [];
        for (const p of cluster.peers()) {
          if (p.id === nodeId || !p.agentUrl || p.ageMs > 2500 || agents.some((a) => a.hostId === p.id)) continue;
          await mkdir(join(dataDir, 'hosts'), { recursive: true });
          const r = new RemoteAgent({
            hostId: p.id, url: p.agentUrl, token: hostCredential(clusterSecret!, p.id), cursorFile: join(dataDir, 'hosts', `node-${p.id}.cursor`),
            connectTimeoutMs: 2000, ...agentCallbacks, logger: logger.child({ component: 'remote-agent', host: p.id }),
          });
          peerAgents.push(r);
          agents.push(gate(r));
          fresh.push(r);
        }
        await Promise.all(fresh.map((r) => r.start()));
        // A node that came back: what its agent still runs that this leader does not want stops.
        if (fresh.length && controllerUp) await controller.resync();
      };
      const promote = async (): Promise<void> => {
        leading = true;
        const t0 = Date.now();
        cluster.unfollowRoutes();
        await addPeers();
        recovered.releases = await releases.failInterrupted();
        await controller.start();
        controllerUp = true;
        for (const app of earlyWakes) controller.wake(app);
        earlyWakes.clear();
        if (router instanceof DataPlaneClient) router.sync();
        peerWatch = setInterval(() => void addPeers().catch((err: unknown) => logger.warn({ err }, 'a node\'s agent not added')), 2000);
        logger.info({ component: 'cluster', node: nodeId, epoch: cluster.lease.state()?.epoch, hosts: agents.map((a) => a.hostId), ms: Date.now() - t0 }, 'leading: the reconcile loops run on this node');
      };
      const depose = async (why: string): Promise<void> => {
        if (!leading) return;
        leading = false;
        controllerUp = false;
        logger.error({ component: 'cluster', node: nodeId, why }, 'deposed: this node stopped reconciling and serves as a follower until it is restarted');
        if (peerWatch) clearInterval(peerWatch);
        await cluster.lease.stop();
        await controller.close().catch(() => undefined);
        for (const r of peerAgents) r.close();
        await cluster.followRoutes(router);
      };
      cleanup.unshift(async () => {
        if (peerWatch) clearInterval(peerWatch);
        for (const r of peerAgents) r.close();
        await publishing?.flushed();
      });
      // Followers tell the leader what their data planes see (idle apps, held requests).
      const followerStats = (): Record<string, AppStat> => {
        const out: Record<string, AppStat> = {};
        if (leading) return out;
        const recent = now() - 15 * 60_000;
        for (const app of cluster.followedApps()) {
          const s = router.appStats(app);
          if (s.inflight > 0 || s.held > 0 || (s.lastRequestAt !== null && s.lastRequestAt > recent)) out[app] = s;
        }
        return out;
      };
      await cluster.register({ apiUrl, routerUrl: `http://${advertised}:${actualRouterPort}`, agentUrl }, followerStats);
      cluster.onWake((app) => {
        if (leading && controllerUp) controller.wake(app);
      });
      await cluster.followRoutes(router);
      if (router instanceof DataPlaneClient) router.sync();
      let first: Promise<void> | null = null;
      cluster.acquired = () => {
        const p = promote().catch(async (err: unknown) => {
          logger.error({ err, component: 'cluster' }, 'could not start leading');
          await depose(`could not start leading: ${(err as Error).message}`);
        });
        first ??= p;
      };
      cluster.lost = (why) => void depose(why);
      await cluster.startLease();
      if (first) await first;
    }

    // Never the token: log collectors are read by more people than the data directory.
    logger.info({ version: SUMMON_VERSION, api: apiUrl, router: routerUrl, https: routerHttpsUrl, dns: dnsPort, data: dataDir, hosts: agents.map((a) => a.hostId), recovered }, 'started');
    let stopping: Promise<void> | null = null;
    up = true;
    return {
      apiUrl, routerUrl, routerHttpsUrl, dnsPort, token, agentToken, dataDir, store, router, controller, logs, logger, recovered, edge, dataPlane: dataPlaneInfo,
      cluster: cluster ? { node: nodeId, store: storeName, leading: () => leading } : null,
      stop: () => {
        stopping ??= (async () => {
          logger.info('stopping');
          for (const c of cleanup) await c().catch((err: unknown) => logger.warn({ err }, 'a part did not stop cleanly'));
          logger.info('stopped');
        })();
        return stopping;
      },
    };
  } catch (e) {
    for (const c of cleanup) await c().catch((err: unknown) => logger.warn({ err }, 'a part did not stop cleanly after a failed start'));
    throw e;
  }
}

/** postgres://HOST:PORT/DB, without the user or password. */
function describePostgres(url: string): string {
  try {
    const u = new URL(url);
    return `postgres://${u.host}${u.pathname}`;
  } catch {
    return 'postgres';
  }
}
