// The HTTP API: thin routes over the services. One error mapping (SummonError → status +
// JSON body), one auth check (Bearer token), SSE for logs and events, git smart HTTP and
// the pre-receive hook endpoint on the same port.
import http from 'node:http';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { createReadStream, existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { HostAgent } from '../agent/host-agent.js';
import type { GitHttpBackend } from '../build/git-http.js';
import { parsePushRequest, servePushStream } from '../build/push-stream.js';
import type { RepoManager } from '../build/repos.js';
import { ForbiddenError, InvalidInputError, NotFoundError, RateLimitedError, SummonError, UnauthorizedError, toSummonError } from '../core/errors.js';
import { checkAppName } from '../core/names.js';
import { checkConfigChange } from '../core/config-vars.js';
import { DURATION_LIMITS } from '../core/manifest.js';
import { validationError } from './bodies.js';
import { route } from './route.js';
import { openApiOptions } from './openapi.js';
import swagger from '@fastify/swagger';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { parseDuration } from '../core/units.js';
import type { Controller } from '../control/controller.js';
import type { EventBus } from '../control/event-bus.js';
import type { LogStore } from '../control/log-store.js';
import type { ReleaseService } from '../control/release-service.js';
import type { Secrets } from '../control/secrets.js';
import type { Store } from '../store/store.js';
import { bearerOf, type Authenticator } from './auth.js';
import type { AuditLog } from './audit-log.js';
import type { PushGrants } from './push-grants.js';
import { auditPush, authorizeGit, installGuard, sees, type GuardDeps } from './guard.js';
import { registerAccessRoutes } from './access-routes.js';
import { securityHeaders } from './security-headers.js';
import { verifyHostCredential } from '../agent/host-credential.js';
import { appState, type AppView, type ReleaseView } from './views.js';
import type { Release } from '../core/types.js';
import type { SeriesPoint } from '../sdk/types.js';
import { registerWebhookRoutes } from '../notify/routes.js';
import { registerDrainRoutes } from '../drains/routes.js';
import type { DrainManager } from '../drains/drain-manager.js';
import { registerImageRoutes } from './images.js';
import { registerUsageRoutes } from './usage-routes.js';
import { ConflictError } from '../core/errors.js';
import { ArtifactVerifier } from '../artifacts/verify.js';
import { SseWriter, sseLimits, type SseDrop } from '../core/sse-writer.js';

export interface ApiDeps {
  store: Store;
  controller: Controller;
  releases: ReleaseService;
  repos: RepoManager;
  git: GitHttpBackend;
  logs: LogStore;
  events: EventBus;
  secrets: Secrets;
  agents: HostAgent[];
  /** The secret each remote host's credential is derived from (agent/host-credential.ts):
   *  what GET /internal/blobs/:sha256 checks, and POST /api/hosts/:host/credential prints. */
  agentToken?: string;
  /** Tokens (auth.ts), the audit log (audit-log.ts) and the push hook's per-push credential. */
  auth: Authenticator;
  audit: AuditLog;
  pushes: PushGrants;
  appUrl: (app: string) => string;
  gitUrl: (app: string) => string;
  /** Prometheus text for GET /metrics. */
  metricsText: () => Promise<string>;
  /** Time series for the dashboard charts. */
  series: (app: string) => SeriesPoint[];
  webDir?: string;
  now?: () => number;
  onAppDestroyed?: (app: string) => Promise<void>;
  /** The blob store path of an artifact; enables the disk image export routes. */
  artifactPath?: (sha256: string) => string;
  /** Bounds for the SSE streams (logs, events): a client that stops reading is dropped. */
  sse?: { maxBufferedBytes?: number; drainTimeoutMs?: number };
  /** `summon up --webhooks-allow-private`: webhooks may target loopback, private and metadata addresses. */
  webhooksAllowPrivate?: boolean;
  /** Log drains; `drainsAllowPrivate` is `summon up --drains-allow-private`. */
  drains?: DrainManager;
  drainsAllowPrivate?: boolean;
  /** `summon up --price-per-instance-second` (GET /api/usage shows a cost with it). */
  pricePerInstanceSecond?: number | null;
  /** Least observed time before rightsizing advice (default 1 h). */
  adviceMinWindowMs?: number;
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.json': 'application/json',
};

export function createApiServer(d: ApiDeps): { server: http.Server; fastify: FastifyInstance } {
  const now = d.now ?? Date.now;
  const sseBounds = sseLimits(d.sse);
  const sse = (reply: FastifyReply, start: (send: SseSend, room: SseRoom) => () => void): void =>
    sseStream(reply, sseBounds, start, (drop) => {
      void d.events.emit(null, 'api.stream_dropped', `${reply.request.url}: ${drop.message}`, { path: reply.request.url.split('?')[0], reason: drop.reason, bufferedBytes: drop.bufferedBytes });
    });
  let fastifyHandler: http.RequestListener | null = null;
  const gate: GuardDeps = { auth: d.auth, audit: d.audit, pushes: d.pushes };
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    securityHeaders(res, url);
    const git = /^\/git\/([^/]+)\.git(\/[^?]*)?(\?.*)?$/.exec(url);
    if (git) {
      void (async () => {
        // Git's HTTP Basic (the token as password) is accepted here and nowhere else.
        if (!(await authorizeGit(gate, git[1], git[2] ?? '/', req, res))) {
          req.resume();
          return;
        }
        await d.git.handle(git[1], git[2] ?? '/', req, res);
      })().catch((e) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`git error: ${toSummonError(e).message}\n`);
      });
      return;
    }
    fastifyHandler!(req, res);
  });
  const fastify = Fastify({
    serverFactory: (handler) => {
      fastifyHandler = handler;
      return server;
    },
    bodyLimit: 1024 * 1024,
  });

  // Requests are validated against the route's schemas and JSON answers serialized through
  // them (api/contract.ts); @fastify/swagger makes the OpenAPI document from the same routes.
  fastify.setValidatorCompiler(validatorCompiler);
  fastify.setSerializerCompiler(serializerCompiler);
  void fastify.register(swagger, openApiOptions);

  fastify.setErrorHandler((err: Error & { statusCode?: number }, req, reply) => {
    if (isResponseSerializationError(err as never)) {
      // An answer that does not match its schema is a bug in Summon, not in the request.
      reply.log.error({ err, cause: (err as { cause?: unknown }).cause }, 'answer does not match its schema');
    }
    const e = err instanceof SummonError ? err
      : hasZodFastifySchemaValidationErrors(err) ? validationError(err, `${req.method} ${req.routeOptions.url ?? req.url.split('?')[0]}`)
        : err.statusCode && err.statusCode < 500 ? new InvalidInputError(err.message)
          : toSummonError(err);
    if (e instanceof RateLimitedError) void reply.header('retry-after', String(e.retryAfterS));
    if (e.code === 'unauthorized') void reply.header('www-authenticate', 'Bearer realm="summon"');
    void reply.status(e.httpStatus).send(e.toJSON());
  });
  fastify.setNotFoundHandler((req, reply) => {
    void reply.status(404).send(new NotFoundError('route', `${req.method} ${req.url}`, 'see the API reference in the README').toJSON());
  });

  // Authentication, `may` (core/access.ts) and the audit log for every route below.
  installGuard(fastify, gate);

  // Every route is registered after the OpenAPI plugin, so it sees them all.
  void fastify.register(async (fastify) => {
  // ---- dashboard (static files of dist/web, built by scripts/build-web.mjs) ----
  const serveStatic = async (file: string, reply: FastifyReply) => {
    if (!d.webDir || !existsSync(join(d.webDir, file))) {
      return reply.status(404).type('text/plain').send('The dashboard is not built: run `npm run build`.\n');
    }
    return reply.type(MIME[extname(file)] ?? 'application/octet-stream').send(await readFile(join(d.webDir, file)));
  };
  fastify.get('/', async (_req, reply) => serveStatic('index.html', reply));
  fastify.get('/assets/*', async (req, reply) => {
    const rest = (req.params as { '*': string })['*'];
    if (rest.includes('..')) throw new InvalidInputError('bad asset path');
    return serveStatic(join('assets', rest), reply);
  });
  route(fastify, 'health', async () => ({ ok: true as const }));

  // ---- apps ----
  const view = async (name: string): Promise<AppView> => {
    const app = d.controller.app(name) ?? (await d.store.getApp(name));
    if (!app) throw new NotFoundError('app', name, 'see `summon apps`');
    const instances = d.controller.instances(name);
    const day = new Date(now()).toISOString().slice(0, 10);
    const stored = await d.store.getUsage(name, day);
    return {
      name, url: d.appUrl(name), gitUrl: d.gitUrl(name), state: appState(app, instances),
      liveVersion: app.liveVersion, targetVersion: app.targetVersion, desiredCount: app.desiredCount,
      instances: { total: instances.length, healthy: instances.filter((i) => i.state === 'healthy').length },
      scale: d.controller.policy(name),
      scalePolicySource: app.scalePolicy ? 'autoscale' : app.liveVersion !== null ? 'manifest' : 'default',
      manualHoldUntil: d.controller.app(name) ? d.controller.manualHoldUntil(name) : null,
      usageSecondsToday: Math.round(stored + d.controller.unflushedUsage(name)),
      createdAt: app.createdAt,
    };
  };
  const appParam = (req: FastifyRequest<{ Params: { app: string } }>): string => checkAppName(req.params.app);

  route(fastify, 'listApps', async (req) => {
    // One app after another: with a thousand apps, a thousand concurrent store reads would
    // only raise the peak memory the process keeps afterwards.
    const out: AppView[] = [];
    for (const a of await d.store.listApps()) if (sees(req, a.name)) out.push(await view(a.name));
    return out;
  });
  route(fastify, 'createApp', async (req, reply) => {
    const name = checkAppName(req.body.name);
    const app = await d.store.createApp(name, now());
    try {
      await d.repos.create(name);
    } catch (e) {
      await d.store.deleteApp(name);
      throw e;
    }
    await d.controller.appCreated(app);
    void d.events.emit(name, 'app.created', `app ${name} created`);
    return reply.status(201).send(await view(name));
  });
  route(fastify, 'getApp', async (req) => view(appParam(req)));
  route(fastify, 'destroyApp', async (req) => {
    const name = appParam(req);
    if (!(await d.store.getApp(name))) throw new NotFoundError('app', name, 'see `summon apps`');
    await d.controller.appRemoved(name);
    await d.store.deleteApp(name);
    await d.repos.remove(name);
    await d.logs.remove(name);
    await d.onAppDestroyed?.(name);
    void d.events.emit(null, 'app.destroyed', `app ${name} destroyed`, { app: name });
    return { ok: true as const };
  });

  // ---- releases ----
  const releaseView = (r: Release): ReleaseView => {
    const { configCipher, ...rest } = r;
    return { ...rest, configKeys: Object.keys(d.secrets.decrypt(configCipher)).sort() };
  };
  route(fastify, 'listReleases', async (req) => {
    const name = appParam(req);
    await requireApp(name);
    return (await d.store.listReleases(name)).map(releaseView);
  });
  route(fastify, 'getRelease', async (req) => {
    const name = appParam(req);
    const v = Number(req.params.version.replace(/^v/, ''));
    if (!Number.isInteger(v) || v < 1) throw new InvalidInputError('release must be written vN or N, e.g. v3');
    const r = await d.store.getRelease(name, v);
    if (!r) throw new NotFoundError('release', `v${v}`, `see \`summon releases -a ${name}\``);
    return releaseView(r);
  });
  const streamed = async (reply: FastifyReply, run: (out: (l: string) => void) => Promise<Record<string, unknown>>) => {
    // Long operations stream NDJSON progress lines, then a final result frame.
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    const out = (line: string) => res.write(`${JSON.stringify({ line })}\n`);
    try {
      const result = await run(out);
      const failed = result.ok === false;
      const message = typeof result.message === 'string' ? result.message : `${reply.request.method} ${reply.request.url} failed`;
      // Answered 200 either way: the audit log has whether it did what was asked.
      d.audit.note(reply.request.raw, { failed, detail: failed ? { message: message.slice(0, 500) } : {} });
      // A failure carries the one error shape: the rollout it asked for did not happen.
      res.end(`${JSON.stringify({ done: true, ...result, ...(failed ? { message, error: { code: 'deploy_failed', message } } : {}) })}\n`);
    } catch (e) {
      const err = toSummonError(e);
      d.audit.note(reply.request.raw, { failed: true, detail: { message: err.message.slice(0, 500) } });
      res.end(`${JSON.stringify({ done: true, ok: false, message: err.message, error: err.toJSON().error })}\n`);
    }
  };
  route(fastify, 'rollback', async (req, reply) => {
    const name = appParam(req);
    const body = req.body ?? {};
    const version = body.version === undefined || body.version === null ? null : Number(String(body.version).replace(/^v/, ''));
    await requireApp(name);
    return streamed(reply, async (out) => {
      const r = await d.releases.rollback(name, version, out);
      return { ok: r.ok, message: r.message, version: r.version };
    });
  });

  // ---- config ----
  route(fastify, 'getConfig', async (req) => {
    const name = appParam(req);
    await requireApp(name);
    return d.secrets.decrypt(await d.store.getConfig(name));
  });
  route(fastify, 'setConfig', async (req, reply) => {
    const name = appParam(req);
    const body = req.body;
    const set = body.set ?? {};
    const unset = body.unset ?? [];
    if (!Object.keys(set).length && !unset.length) throw new InvalidInputError('nothing to change: give KEY=VALUE pairs to set or KEYs to unset');
    await requireApp(name);
    // Names and values meet the rules of the live release's target before anything is stored.
    const app = await d.store.getApp(name);
    const live = app?.liveVersion != null ? await d.store.getRelease(name, app.liveVersion) : undefined;
    const resulting = { ...d.secrets.decrypt(await d.store.getConfig(name)), ...set };
    for (const k of unset) delete resulting[k];
    checkConfigChange(set, resulting, live?.manifest?.run.target);
    return streamed(reply, async (out) => {
      const r = await d.releases.setConfig(name, set, unset, out);
      return { ok: r.result.ok, message: r.result.message, release: r.release, keys: Object.keys(r.config).sort() };
    });
  });

  // ---- instances and scale ----
  route(fastify, 'listInstances', async (req) => {
    const name = appParam(req);
    await requireApp(name);
    return d.controller.instances(name);
  });
  route(fastify, 'scale', async (req) => {
    const name = appParam(req);
    const { count } = req.body;
    await d.controller.scale(name, count);
    return view(name);
  });
  route(fastify, 'autoscale', async (req) => {
    const name = appParam(req);
    const b = req.body;
    const cur = d.controller.policy(name);
    const num = (k: string, v: unknown, fallback: number, lo: number, hi: number): number => {
      if (v === undefined) return fallback;
      const n = Number(v);
      if (!Number.isFinite(n) || n < lo || n > hi) throw new InvalidInputError(`${k} must be a number between ${lo} and ${hi}, got ${String(v)}`);
      return n;
    };
    let targetCpu = num('target-cpu', b.targetCpu, cur.targetCpu, 0.01, 100);
    if (targetCpu > 1) targetCpu /= 100; // "80" means 80 %
    let idle = cur.idleTimeoutMs;
    if (b.idleTimeout !== undefined) {
      const ms = typeof b.idleTimeout === 'number' ? b.idleTimeout : parseDuration(String(b.idleTimeout));
      const { min, max } = DURATION_LIMITS['scale.idle_timeout'];
      if (ms === undefined || ms < min || ms > max) throw new InvalidInputError(`idle-timeout must be a duration from 1s to 168h like "30s" or "5m", got ${String(b.idleTimeout)}`);
      idle = ms;
    }
    const policy = {
      min: Math.trunc(num('min', b.min, cur.min, 0, 1000)),
      max: Math.trunc(num('max', b.max, cur.max, 1, 1000)),
      targetCpu, idleTimeoutMs: idle,
    };
    await d.controller.setPolicy(name, policy);
    return view(name);
  });
  route(fastify, 'restart', async (req, reply) => {
    const name = appParam(req);
    await requireApp(name);
    return streamed(reply, async (out) => {
      out(`-----> Restarting ${name}`);
      const r = await d.controller.restart(name);
      return r.ok ? { ok: true, message: 'restarted' } : { ok: false, message: r.reason };
    });
  });

  // ---- logs and events ----
  route(fastify, 'logs', async (req) => {
    const name = appParam(req);
    await requireApp(name);
    return d.logs.query(name, logQuery(req.query, now));
  });
  route(fastify, 'logStream', async (req, reply) => {
    const name = appParam(req);
    await requireApp(name);
    const q = logQuery(req.query, now);
    sse(reply, (send, room) => {
      // Lines that arrive in one tick go out as one `logs` event holding a JSON array: one
      // SSE frame (and one parse on the client) per burst instead of one per line.
      // A batch goes out early past 64K, so no one frame is larger than the client's bound.
      let batch: string[] = [];
      let batchBytes = 0;
      const flush = () => {
        const lines = batch;
        batch = [];
        batchBytes = 0;
        if (lines.length === 1) send('log', null, lines[0]);
        else if (lines.length > 1) send('logs', null, `[${lines.join(',')}]`);
      };
      let unsubscribe = (): void => {};
      let closed = false;
      // The history (up to the app's whole log) goes out at the client's pace, then what came
      // meanwhile (by seq), and only then live lines: between the last catch-up and subscribe
      // nothing awaits, so no line is missed or sent twice.
      void (async () => {
        let lines = d.logs.query(name, { ...q, limit: q.limit ?? 100 });
        let last = 0;
        while (lines.length > 0) {
          for (const l of lines) {
            if (!(await room()) || closed) return;
            send('log', l);
            last = l.seq;
          }
          lines = d.logs.query(name, { instance: q.instance, source: q.source }).filter((l) => l.seq > last);
        }
        if (closed) return;
        unsubscribe = d.logs.subscribe(name, (l, json) => {
          if (!d.logs.matches(l, q)) return;
          if (batch.length === 0) process.nextTick(flush);
          batch.push(json);
          batchBytes += json.length;
          if (batchBytes > 64 * 1024) flush();
        });
      })();
      return () => {
        closed = true;
        unsubscribe();
      };
    });
  });
  route(fastify, 'appEvents', async (req) => {
    const name = appParam(req);
    await requireApp(name);
    const q = req.query;
    return d.store.listEvents({ app: name, limit: q.limit ?? 200, ...(q.after !== undefined ? { afterId: q.after } : {}) });
  });
  route(fastify, 'eventStream', async (req, reply) => {
    const app = req.query.app;
    sse(reply, (send) => d.events.subscribe((e) => {
      if ((!app || e.app === app) && sees(req, e.app)) send('event', e);
    }));
  });
  route(fastify, 'series', async (req) => {
    const name = appParam(req);
    await requireApp(name);
    return d.series(name);
  });

  registerAccessRoutes(fastify, { store: d.store, now, ...(d.agentToken ? { agentSecret: d.agentToken } : {}) });
  registerWebhookRoutes(fastify, { store: d.store, now, allowPrivate: d.webhooksAllowPrivate === true });
  if (d.drains) registerDrainRoutes(fastify, { store: d.store, drains: d.drains, now, allowPrivate: d.drainsAllowPrivate === true });
  if (d.artifactPath) registerImageRoutes(fastify, { store: d.store, secrets: d.secrets, artifactPath: d.artifactPath });
  registerUsageRoutes(fastify, { store: d.store, controller: d.controller, pricePerInstanceSecond: d.pricePerInstanceSecond ?? null, now, ...(d.adviceMinWindowMs !== undefined ? { adviceMinWindowMs: d.adviceMinWindowMs } : {}) });

  // ---- hosts and metrics ----
  route(fastify, 'listHosts', async () => Promise.all(d.agents.map(async (a) => {
    const link = a.link();
    return {
      id: a.hostId, address: link.address, link: link.state, ...(link.url ? { url: link.url } : {}), since: link.since,
      ...(link.error ? { error: link.error } : {}),
      runtimes: await a.capabilities().catch(() => []), instances: a.instances().length,
    };
  })));
  route(fastify, 'hostEvents', async (req) => d.store.listEvents({ types: ['host.unreachable', 'host.connected'], limit: req.query.limit ?? 200 }));
  route(fastify, 'metrics', async (_req, reply) => reply.type('text/plain; version=0.0.4').send(await d.metricsText()));
  route(fastify, 'openapi', async (_req, reply) => reply.type('application/json').send(JSON.stringify(fastify.swagger())));

  // ---- artifacts for remote agents ----
  const blobVerifier = new ArtifactVerifier();
  fastify.get('/internal/blobs/:sha', { schema: { hide: true } }, async (req, reply) => {
    // Each host presents its own credential and gets only the artifacts placed on it.
    d.auth.checkAddress(req.raw);
    const host = d.agentToken ? verifyHostCredential(d.agentToken, bearerOf(req.raw)) : null;
    const agent = host === null ? undefined : d.agents.find((a) => a.hostId === host && a.link().state !== 'local');
    if (!agent || !d.artifactPath) {
      d.auth.failed(req.raw);
      throw new UnauthorizedError(host ? `host ${host} is not one of this control plane's agents (summon up --agent ${host}=URL)` : 'not a host credential: give the agent its own (`summon hosts:credential ID`)');
    }
    const sha = (req.params as { sha: string }).sha;
    if (!/^[0-9a-f]{64}$/.test(sha)) throw new InvalidInputError(`not a sha256 digest: ${JSON.stringify(sha)}`);
    if (!agent.desiredSet().some((x) => x.artifactSha256 === sha || x.initrdSha256 === sha)) {
      throw new ForbiddenError(`host ${host} runs no release with artifact ${sha.slice(0, 12)}: a host fetches only the artifacts of instances placed on it`);
    }
    const path = d.artifactPath(sha);
    // Never serve a copy that is not what its digest says: the agent would refuse it anyway,
    // and this says where the damage is.
    const v = await blobVerifier.verify(path, sha);
    if (!v.ok && v.kind === 'altered') {
      throw new ConflictError(`artifact ${sha.slice(0, 12)}… is altered in the control plane's blob store (sha256 ${v.actual.slice(0, 12)}…≠${sha.slice(0, 12)}…): not served; roll the app back to an intact release or push again`, { expected: sha, actual: v.actual });
    }
    const size = await stat(path).then((s) => s.size, () => null);
    if (size === null) throw new NotFoundError('artifact', sha.slice(0, 12), 'it is not in this control plane\'s blob store');
    return reply.type('application/octet-stream').header('content-length', size).send(createReadStream(path));
  });

  // ---- the pre-receive hook ----
  fastify.post('/internal/push', { schema: { hide: true } }, async (req, reply) => {
    d.auth.checkAddress(req.raw);
    // One credential per git request, valid while it is served (push-grants.ts): who pushed.
    const ctx = d.pushes.redeem(bearerOf(req.raw));
    if (!ctx) {
      d.auth.failed(req.raw);
      throw new UnauthorizedError('the push hook token is not valid');
    }
    const push = await parsePushRequest(req.body, { gitDirFor: (app) => d.repos.path(app) });
    if (push.app !== ctx.app) throw new ForbiddenError(`this push was authorized for ${ctx.app}, not ${push.app}`);
    reply.hijack();
    await servePushStream(reply.raw, async (out, signal) => {
      const result = await d.releases.push(push, out, signal).catch((e: unknown) => {
        void auditPush(gate, ctx, { ok: false, message: toSummonError(e).message }, now());
        throw e;
      });
      await auditPush(gate, ctx, result, now());
      return result;
    });
  });
  });

  async function requireApp(name: string): Promise<void> {
    if (!d.controller.app(name) && !(await d.store.getApp(name))) throw new NotFoundError('app', name, 'see `summon apps`');
  }
  return { server, fastify };
}

function logQuery(q: { since?: string; instance?: string; source?: 'app' | 'summon'; limit?: number }, now: () => number) {
  const out: { since?: number; instance?: string; source?: 'app' | 'summon'; limit?: number } = {};
  if (q.since) {
    const ms = parseDuration(q.since);
    if (ms === undefined) throw new InvalidInputError(`--since must be a duration like "10m", got ${q.since}`);
    out.since = now() - ms;
  }
  if (q.instance) out.instance = q.instance;
  if (q.source) out.source = q.source;
  if (q.limit !== undefined) out.limit = q.limit;
  return out;
}

type SseSend = (event: string, data: unknown, json?: string) => void;
/** Resolves true when the client has room for more, false once its stream is gone. */
type SseRoom = () => Promise<boolean>;

/** What a dropped client is sent last, when it fits: `summon logs --tail` says it and reconnects. */
const dropFrame = (drop: SseDrop): string => `event: dropped\ndata: ${JSON.stringify({ reason: drop.reason, message: drop.message })}\n\n`;

function sseStream(
  reply: FastifyReply,
  bounds: { maxBufferedBytes: number; drainTimeoutMs: number },
  start: (send: SseSend, room: SseRoom) => () => void,
  onDrop: (drop: SseDrop) => void,
): void {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  res.socket?.setNoDelay(true);
  // The writer corks each tick (a burst of log lines goes out in one write) and drops a
  // client that stops reading instead of buffering for it (core/sse-writer.ts).
  const out = new SseWriter(res, { ...bounds, dropFrame, onDrop });
  out.write(': connected\n\n');
  const send: SseSend = (event, data, json) => {
    out.write(`event: ${event}\ndata: ${json ?? JSON.stringify(data)}\n\n`);
  };
  const stop = start(send, () => out.room());
  const ping = setInterval(() => out.write(': ping\n\n'), 15_000);
  res.on('close', () => {
    clearInterval(ping);
    stop();
  });
}
