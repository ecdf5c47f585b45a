// The one composition root: wires a whole Summon node (API, git endpoint, router, control
// plane, one local agent, the store) for `summon up`.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, type AgentEvent } from './agent/agent.js';
import { RemoteAgent } from './agent/remote-agent.js';
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
import { Secrets } from './control/secrets.js';
import { SeriesRecorder } from './api/series.js';
import { EmailNotifier, type EmailOptions } from './notify/email.js';
import { WebhookNotifier } from './notify/webhooks.js';
import { DrainManager, type DrainSettings } from './drains/drain-manager.js';
import { InvalidInputError } from './core/errors.js';
import { checkPrice } from './core/usage.js';
import { DnsServer } from './router/dns/dns-server.js';
import { Router, type ClientLimitOptions } from './router/router.js';
import { DataPlaneClient } from './router/dataplane-client.js';
import { ProcessRuntime } from './runtimes/process/process-runtime.js';
import { makeDataDir, openConfinement, tightenDataDir } from './isolation/data-dir.js';
import type { Confiner } from './isolation/confine.js';
import type { UidRange } from './isolation/uids.js';
import type { Runtime } from './runtimes/runtime.js';
import { SUMMON_VERSION } from './core/version.js';
import { openStore } from './store/open.js';
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
  /** The data plane: the router in this process, or the client of the data plane process. */
  router: Router | DataPlaneClient;
  controller: Controller;
  logs: LogStore;
  /** Summon's own log, for the last resort (cli/last-resort.ts). */
  logger: Logger;
  /** What a previous run that died (kill -9) left half done, cleaned up at this start. */
  recovered: { buildProcesses: number; buildDirs: number; releases: number };
  stop(): Promise<void>;
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
  const store = await openStore(o.storeUrl ?? join(dataDir, 'summon.db'));
  const cleanup: (() => Promise<unknown>)[] = [() => store.close()];
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
    const auth = new Authenticator({
      store, now, limiter: new AuthLimiter({ now, ...o.authLimit }),
      onTouchFailed: (err) => logger.warn({ err, component: 'auth' }, 'token last-used time not stored'),
    });
    const pushes = new PushGrants();
    const secrets = await Secrets.open(dataDir);
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
    const domains = ['localhost', ...(o.domain ? [o.domain] : [])];

    let controller!: Controller;
    let up = false;
    // Wake-ups asked for before the controller is up (requests a data plane held while no
    // control plane was there) wait for it.
    let controllerUp = false;
    const earlyWakes = new Set<string>();
    const wake = (app: string) => {
      if (controllerUp) controller.wake(app);
      else earlyWakes.add(app);
    };
    const onRouterEvent = (e: { app: string; type: string; message: string; data?: Record<string, unknown> }) => void events.emit(e.app, e.type, e.message, e.data ?? {});
    let router: Router | DataPlaneClient;
    let actualRouterPort: number;
    let actualHttpsPort: number | null = null;
    if (o.dataPlane === 'process') {
      const dp = await DataPlaneClient.open({
        dataDir, port: routerPort, domains, version: SUMMON_VERSION, logger: part('dataplane'),
        ...(host ? { host } : {}),
        ...(o.hold ? { hold: o.hold } : {}),
        ...(o.routerClient ? { client: o.routerClient } : {}),
        ...(httpsPort !== null ? { httpsPort } : {}),
        onWake: wake, onEvent: onRouterEvent,
      });
      logger.info({ component: 'dataplane', ...dp.origin, port: dp.port }, dp.origin.adopted ? 'adopted the running data plane' : 'started the data plane');
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
    const agent = new Agent({
      hostId: hostname() || 'local', dataDir: stateDir, runtimes,
      artifactPath: (sha) => blobs.path(sha),
      ...agentCallbacks,
      logger: part('agent'),
      now,
    });
    if (o.remoteAgents?.length) await mkdir(join(dataDir, 'hosts'), { recursive: true });
    const remotes = (o.remoteAgents ?? []).map((r) => new RemoteAgent({
      hostId: r.id, url: r.url, token: hostCredential(agentToken, r.id), cursorFile: join(dataDir, 'hosts', `${r.id}.cursor`), ...agentCallbacks,
      logger: logger.child({ component: 'remote-agent', host: r.id }),
    }));
    if (new Set([agent.hostId, ...remotes.map((r) => r.hostId)]).size !== remotes.length + 1) {
      throw new InvalidInputError(`every host needs its own id: this host is "${agent.hostId}", --agent gave ${remotes.map((r) => r.hostId).join(', ')}`);
    }
    cleanup.unshift(async () => remotes.forEach((r) => r.close()));
    const agents: HostAgent[] = [agent, ...remotes];
    controller = new Controller({
      store, agents, router, events, secrets, now, logger: part('controller'),
      ...(o.autoscale ? { autoscale: o.autoscale } : {}),
      ...(o.deployDeadlineMs ? { deployDeadlineMs: o.deployDeadlineMs } : {}),
      ...(o.hostLostAfterMs ? { hostLostAfterMs: o.hostLostAfterMs } : {}),
    });
    await agent.start();
    cleanup.unshift(() => agent.close({ stopInstances: !o.keepInstances }));
    // Remote hosts that do not answer within a few seconds are adopted when they come back.
    await Promise.all(remotes.map((r) => r.start()));
    await controller.start();
    cleanup.unshift(() => controller.close());
    controllerUp = true;
    for (const app of earlyWakes) controller.wake(app);
    earlyWakes.clear();
    // Every app's route is set: what the data plane still routes beyond them goes.
    if (router instanceof DataPlaneClient) router.sync();
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
    const releases = new ReleaseService({
      store, controller, pipeline, events, secrets, agents, appUrl, now, logger: part('releases'),
      gitDirOf: (app) => repos.path(app), artifactPath: (sha) => blobs.path(sha),
    });
    const recovered = { buildProcesses: builds.killed + reapedBuildProcesses, buildDirs: builds.removed.length, releases: await releases.failInterrupted() };
    const { server, fastify } = createApiServer({
      store, controller, releases, repos, git, logs, events, secrets, agents, auth, audit, pushes, agentToken,
      appUrl, gitUrl: (app) => `${apiUrl}/git/${app}.git`,
      metricsText: () => metrics.text(),
      series: (app) => recorder.get(app),
      onAppDestroyed: async (app) => recorder.forget(app),
      artifactPath: (sha) => blobs.path(sha), blobs, uploadDir: join(dataDir, 'uploads'),
      webDir: join(here, '..', 'web'),
      webhooksAllowPrivate: o.webhooks?.allowPrivate === true,
      drains, drainsAllowPrivate: o.drains?.allowPrivate === true,
      pricePerInstanceSecond: price,
      ...(o.adviceMinWindowMs !== undefined ? { adviceMinWindowMs: o.adviceMinWindowMs } : {}),
      now,
    });
    await fastify.ready();
    await new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen(apiPort, host, () => res());
    });
    server.requestTimeout = 0; // pushes stream for as long as the build and rollout take
    cleanup.unshift(() => new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    }));
    const addr = server.address() as { port: number };
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

    // Never the token: log collectors are read by more people than the data directory.
    logger.info({ version: SUMMON_VERSION, api: apiUrl, router: routerUrl, https: routerHttpsUrl, dns: dnsPort, data: dataDir, hosts: agents.map((a) => a.hostId), recovered }, 'started');
    let stopping: Promise<void> | null = null;
    up = true;
    return {
      apiUrl, routerUrl, routerHttpsUrl, dnsPort, token, agentToken, dataDir, store, router, controller, logs, logger, recovered,
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
