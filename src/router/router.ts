// The HTTP router: Host header → app → least-loaded upstream, on node:http with one
// keep-alive socket pool per upstream (upstream-pool.ts). Requests for an app with no
// upstream are held (body unread) while the control plane wakes it; failed connects and
// idempotent requests whose upstream died before answering are retried elsewhere or held.
// Before a request exists (connection limits, header and idle timeouts, heads the parser
// refuses, CONNECT) is client-edge.ts; what a head may hold and how it is rewritten, headers.ts.
//
// Per-request state lives on one Exchange object. Event handlers are module-level
// functions that find it through a symbol on the emitter, so the hot path allocates
// no closures.
//
// Exchange states:
//
//   NEW ──► PROXYING ──► DONE          (response streamed, or 502/504 written)
//    │  ▲      │
//    ▼  │      │ retryable failure, no other upstream
//   HELD ◄─────┘
//    │
//    └──► DONE                          (released into PROXYING, or 503, or client gone)

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { InvalidInputError } from '../core/errors.js';
import { checkAppName } from '../core/names.js';
import { ClientEdge, type ClientEdgeStats } from './client-edge.js';
import { REQUEST_TIMEOUT_MS, resolveClientLimits, type ClientLimitOptions, type ClientLimits } from './client-limits.js';
import { scanRequestHead, filterResponseHeaders, contentLengthOf, type RequestHead } from './headers.js';
import { HostParser } from './host-parser.js';
import * as msg from './messages.js';
import { AppMetrics, type RouterMetrics } from './metrics.js';
import { UpstreamState, chooseUpstream, type Upstream } from './upstream-pool.js';
import { kClosing, type MaybeClosing } from './raw-response.js';
import { handleUpgrade } from './upgrade.js';

export type { Upstream } from './upstream-pool.js';
export type { RouterMetrics, AppMetricsSnapshot, HistogramSnapshot } from './metrics.js';
export type { ClientLimitOptions, ClientLimits } from './client-limits.js';
export type { ClientEdgeStats } from './client-edge.js';

export type AppRoute =
  | { kind: 'serving'; upstreams: Upstream[] } // healthy, in-pool instances; may be empty (then hold + wake)
  | { kind: 'no-release' }; // app exists, nothing deployed yet

export interface RouterEvent {
  type: string;
  app: string;
  message: string;
  data?: Record<string, unknown>;
}

export interface RouterOptions {
  port: number;
  host?: string;
  /** Apps are NAME.<domain> for each; default ['localhost']. */
  domains?: string[];
  /** Called when a request is held for an app with no upstream (once per wake episode). */
  wake?: (app: string) => void;
  /** Per-app bounds on held requests; defaults 100 and 30000. */
  hold?: { maxRequests?: number; maxWaitMs?: number };
  onEvent?: (e: RouterEvent) => void;
  /** Wall clock (epoch ms) for lastRequestAt, wake latency and event rate limits. */
  now?: () => number;
  /** Upstream response-header timeout → 504; default 60000. */
  headerTimeoutMs?: number;
  /** Most attempts one request makes across upstreams; default 5. */
  maxAttempts?: number;
  /** After a refused connect, prefer other upstreams for this long; default 1000. */
  downMs?: number;
  /** At most one event of a type per app per this interval; default 1000. */
  eventIntervalMs?: number;
  /** Keep-alive pool per upstream; defaults 1024 and 256. */
  agent?: { maxSockets?: number; maxFreeSockets?: number };
  /** Value of X-Forwarded-Proto and Forwarded's proto=: 'http' (default) or 'https'. */
  proto?: string;
  /** Client connection limits and timeouts; defaults and reasons in client-limits.ts. */
  client?: ClientLimitOptions;
  /** Called when an upstream removed from its route has no request in flight any more (a
   *  control plane in another process learns a drain is over without polling). */
  onUpstreamIdle?: (instanceId: string) => void;
}

const NEW = 0;
const HELD = 1;
const PROXYING = 2;
const DONE = 3;

const kEx = Symbol('summon.exchange');

interface AppEntry {
  name: string;
  kind: 'serving' | 'no-release';
  upstreams: UpstreamState[];
  rr: number;
  inflight: number;
  held: Exchange[];
  lastRequestAt: number | null;
  metrics: AppMetrics;
  /** now() when the current wake episode started, null when none is under way. */
  wakeStartedAt: number | null;
  events: Map<string, { at: number; suppressed: number }>;
}

class Exchange {
  state = NEW;
  upstream: UpstreamState | null = null;
  ureq: http.ClientRequest | null = null;
  ures: http.IncomingMessage | null = null;
  tried: string[] | null = null;
  attempts = 0;
  resetRetried = false;
  bodyStarted = false;
  sentAt = 0;
  heldAt = 0;
  /** Response body bytes still expected per Content-Length, or -1 when unknown. */
  remaining = -1;
  holdTimer: NodeJS.Timeout | null = null;
  constructor(
    readonly router: Router,
    readonly req: http.IncomingMessage,
    readonly res: http.ServerResponse,
    readonly app: AppEntry,
    readonly head: RequestHead,
    readonly start: number,
  ) {}
}

type WithEx<T> = T & { [kEx]?: Exchange };

const CONNECT_ERRORS = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN']);
const RESET_ERRORS = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

function isIntIn(v: unknown, lo: number, hi: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;
}

export class Router {
  private readonly server: http.Server;
  private readonly host: string | undefined;
  private port: number;
  private readonly hosts: HostParser;
  private readonly wakeFn: ((app: string) => void) | undefined;
  private readonly onEvent: ((e: RouterEvent) => void) | undefined;
  private readonly now: () => number;
  private readonly maxHeld: number;
  private readonly maxWaitMs: number;
  private readonly headerTimeoutMs: number;
  private readonly maxAttempts: number;
  private readonly downMs: number;
  private readonly eventIntervalMs: number;
  private readonly agentOpts: { maxSockets: number; maxFreeSockets: number };
  private readonly proto: string;
  private readonly clientLimits: ClientLimits;
  private readonly edge: ClientEdge;
  private readonly onUpstreamIdle: ((id: string) => void) | undefined;

  private readonly apps = new Map<string, AppEntry>();
  /** Upstreams in some route, by instance id. */
  private readonly live = new Map<string, UpstreamState>();
  /** Upstreams removed from their route that still have requests in flight. */
  private readonly draining = new Set<UpstreamState>();
  /** Exchanges sent upstream and waiting for response headers, in send order. */
  private readonly awaitingHeaders = new Set<Exchange>();
  private sweepTimer: NodeJS.Timeout | null = null;
  private unrouted = 0;
  /** Heads refused 400 by the router's own checks (headers.ts), before any routing. */
  private badRequests = 0;
  private closed = false;

  constructor(opts: RouterOptions) {
    if (!opts || typeof opts !== 'object') throw new InvalidInputError('router: options are required');
    if (!isIntIn(opts.port, 0, 65535)) throw new InvalidInputError(`router: port: ${String(opts.port)} is not an integer in 0..65535`);
    const hold = opts.hold ?? {};
    const maxHeld = hold.maxRequests ?? 100;
    const maxWaitMs = hold.maxWaitMs ?? 30_000;
    if (!isIntIn(maxHeld, 0, 1_000_000)) throw new InvalidInputError(`router: hold.maxRequests: ${String(maxHeld)} is not an integer >= 0`);
    if (!isIntIn(maxWaitMs, 1, 3_600_000)) throw new InvalidInputError(`router: hold.maxWaitMs: ${String(maxWaitMs)} is not an integer in 1..3600000`);
    const headerTimeoutMs = opts.headerTimeoutMs ?? 60_000;
    if (!isIntIn(headerTimeoutMs, 1, 3_600_000)) throw new InvalidInputError(`router: headerTimeoutMs: ${String(headerTimeoutMs)} is not an integer in 1..3600000`);
    const maxAttempts = opts.maxAttempts ?? 5;
    if (!isIntIn(maxAttempts, 1, 100)) throw new InvalidInputError(`router: maxAttempts: ${String(maxAttempts)} is not an integer in 1..100`);
    const downMs = opts.downMs ?? 1000;
    if (!isIntIn(downMs, 0, 600_000)) throw new InvalidInputError(`router: downMs: ${String(downMs)} is not an integer in 0..600000`);
    const eventIntervalMs = opts.eventIntervalMs ?? 1000;
    if (!isIntIn(eventIntervalMs, 0, 3_600_000)) throw new InvalidInputError(`router: eventIntervalMs: ${String(eventIntervalMs)} is not an integer >= 0`);
    const maxSockets = opts.agent?.maxSockets ?? 1024;
    const maxFreeSockets = opts.agent?.maxFreeSockets ?? 256;
    if (!isIntIn(maxSockets, 1, 100_000)) throw new InvalidInputError(`router: agent.maxSockets: ${String(maxSockets)} is not an integer >= 1`);
    if (!isIntIn(maxFreeSockets, 0, 100_000)) throw new InvalidInputError(`router: agent.maxFreeSockets: ${String(maxFreeSockets)} is not an integer >= 0`);
    if (opts.wake !== undefined && typeof opts.wake !== 'function') throw new InvalidInputError('router: wake must be a function');
    if (opts.onEvent !== undefined && typeof opts.onEvent !== 'function') throw new InvalidInputError('router: onEvent must be a function');
    const proto = opts.proto ?? 'http';
    if (proto !== 'http' && proto !== 'https') throw new InvalidInputError(`router: proto: ${JSON.stringify(proto)} is not 'http' or 'https'`);
    const clientLimits = resolveClientLimits(opts.client);
    let hosts: HostParser;
    try {
      hosts = new HostParser(opts.domains ?? ['localhost']);
    } catch (e) {
      throw new InvalidInputError((e as Error).message);
    }

    this.hosts = hosts;
    this.host = opts.host;
    this.port = opts.port;
    this.wakeFn = opts.wake;
    this.onEvent = opts.onEvent;
    this.now = opts.now ?? Date.now;
    this.maxHeld = maxHeld;
    this.maxWaitMs = maxWaitMs;
    this.headerTimeoutMs = headerTimeoutMs;
    this.maxAttempts = maxAttempts;
    this.downMs = downMs;
    this.eventIntervalMs = eventIntervalMs;
    this.agentOpts = { maxSockets, maxFreeSockets };
    this.proto = proto;
    this.clientLimits = clientLimits;
    this.onUpstreamIdle = opts.onUpstreamIdle;

    this.server = http.createServer(
      {
        noDelay: true,
        keepAliveTimeout: clientLimits.idleTimeoutMs,
        headersTimeout: clientLimits.headerTimeoutMs,
        // A held request's body is read only once it is released, so the whole request may
        // take Node's usual 5 minutes plus the longest hold.
        requestTimeout: REQUEST_TIMEOUT_MS + maxWaitMs,
        // Node checks both timeouts on this interval (30 s by default, so a 10 s header timeout
        // would fire anywhere up to 40 s); one pass over the connections mid-request is cheap.
        connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(clientLimits.headerTimeoutMs / 10))),
        // The router answers a missing Host itself, in its own words.
        requireHostHeader: false,
      },
      this.onRequest,
    );
    this.edge = new ClientEdge(this.server, clientLimits);
    this.server.on('upgrade', (req: http.IncomingMessage, socket, head: Buffer) => {
      handleUpgrade(this.upgradeHooks, this.proto, req, socket, head);
    });
  }

  // ── lifecycle ─────────────────────────────────────────────────────────────

  listen(): Promise<{ port: number }> {
    return new Promise((resolve, reject) => {
      const onError = (e: Error) => reject(e);
      this.server.once('error', onError);
      this.server.listen(this.port, this.host, () => {
        this.server.off('error', onError);
        this.port = (this.server.address() as AddressInfo).port;
        // Response-header timeouts are found by one sweep instead of a timer per request.
        const every = Math.max(5, Math.min(1000, Math.floor(this.headerTimeoutMs / 10)));
        this.sweepTimer = setInterval(() => this.sweep(), every);
        this.sweepTimer.unref();
        resolve({ port: this.port });
      });
    });
  }

  /** Stops accepting, answers held requests 503, lets in-flight ones finish for up to `graceMs`. */
  async close(graceMs = 5000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    for (const app of this.apps.values()) this.flushHeld(app, 503, msg.SHUTTING_DOWN_BODY, 1);
    const done = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([done, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    this.server.closeAllConnections();
    await done;
    for (const u of this.live.values()) u.destroy();
    for (const u of this.draining) u.destroy();
  }

  // ── route table ───────────────────────────────────────────────────────────

  setRoute(name: string, route: AppRoute): void {
    checkAppName(name);
    if (route?.kind !== 'serving' && route?.kind !== 'no-release') {
      throw new InvalidInputError(`router: route for ${name}: kind must be 'serving' or 'no-release'`);
    }
    let app = this.apps.get(name);
    if (!app) {
      app = {
        name,
        kind: route.kind,
        upstreams: [],
        rr: 0,
        inflight: 0,
        held: [],
        lastRequestAt: null,
        metrics: new AppMetrics(),
        wakeStartedAt: null,
        events: new Map(),
      };
      this.apps.set(name, app);
    }
    if (route.kind === 'no-release') {
      for (const u of app.upstreams) this.drainUpstream(u);
      app.upstreams = [];
      app.kind = 'no-release';
      this.flushHeld(app, 503, msg.noReleaseBody(name), undefined);
      return;
    }
    if (!Array.isArray(route.upstreams)) throw new InvalidInputError(`router: route for ${name}: upstreams must be an array`);
    const next: UpstreamState[] = [];
    for (const u of route.upstreams) {
      if (!u || typeof u.id !== 'string' || u.id === '' || typeof u.address !== 'string' || u.address === '' || !isIntIn(u.port, 1, 65535)) {
        throw new InvalidInputError(`router: route for ${name}: bad upstream ${JSON.stringify(u)}: needs id, address and port 1..65535`);
      }
      let s = app.upstreams.find((x) => x.id === u.id && x.sameAs(u));
      if (!s) {
        const prev = this.live.get(u.id);
        if (prev && prev.sameAs(u) && !app.upstreams.includes(prev)) {
          s = prev; // moved between apps: unusual but keep its pool
        } else {
          s = [...this.draining].find((d) => d.id === u.id && d.sameAs(u));
          if (s) {
            this.draining.delete(s);
            s.undrain();
          } else {
            s = new UpstreamState(u, this.agentOpts);
          }
        }
      }
      if (!next.includes(s)) next.push(s);
    }
    for (const old of app.upstreams) if (!next.includes(old)) this.drainUpstream(old);
    for (const s of next) this.live.set(s.id, s);
    app.upstreams = next;
    app.kind = 'serving';
    if (next.length > 0 && app.held.length > 0) this.releaseHeld(app);
  }

  deleteRoute(name: string): void {
    const app = this.apps.get(name);
    if (!app) return;
    for (const u of app.upstreams) this.drainUpstream(u);
    app.upstreams = [];
    this.flushHeld(app, 404, msg.appGoneBody(name), undefined);
    this.apps.delete(name);
  }

  // ── observation ───────────────────────────────────────────────────────────

  inflight(instanceId: string): number {
    let n = this.live.get(instanceId)?.inflight ?? 0;
    for (const d of this.draining) if (d.id === instanceId) n += d.inflight;
    return n;
  }

  appStats(name: string): { inflight: number; held: number; lastRequestAt: number | null } {
    const app = this.apps.get(name);
    if (!app) return { inflight: 0, held: 0, lastRequestAt: null };
    return { inflight: app.inflight, held: app.held.length, lastRequestAt: app.lastRequestAt };
  }

  /** Requests in flight per instance, for those that have any (routed or draining). */
  busyUpstreams(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const u of this.live.values()) if (u.inflight > 0) out[u.id] = (out[u.id] ?? 0) + u.inflight;
    for (const u of this.draining) if (u.inflight > 0) out[u.id] = (out[u.id] ?? 0) + u.inflight;
    return out;
  }

  /** Snapshots of the apps whose counters moved since the marks (updated in place): what an
   *  idle app costs here is one sum. */
  metricsChanged(marks: Map<string, number>): RouterMetrics {
    const apps: RouterMetrics['apps'] = {};
    for (const [name, app] of this.apps) {
      const m = app.metrics.mark();
      if (marks.get(name) === m) continue;
      marks.set(name, m);
      apps[name] = app.metrics.snapshot();
    }
    return { apps, unrouted: this.unrouted };
  }

  /** The apps in the route table. */
  routedApps(): string[] {
    return [...this.apps.keys()];
  }

  /** Every app's counters; with `answeredOnly`, only apps that have been sent a request (the
   *  dashboard's series recorder: an app never asked for has no rate to chart, and a thousand
   *  idle apps are not copied every sample). */
  metrics(o: { answeredOnly?: boolean } = {}): RouterMetrics {
    const apps: RouterMetrics['apps'] = {};
    for (const [name, app] of this.apps) {
      if (o.answeredOnly && !app.metrics.answered()) continue;
      apps[name] = app.metrics.snapshot();
    }
    return { apps, unrouted: this.unrouted };
  }

  /** Client connections open now, and what the edge refused or cut; `limits` as resolved. */
  clientStats(): ClientEdgeStats & { limits: ClientLimits; badRequests: number } {
    return { ...this.edge.stats(), limits: { ...this.clientLimits }, badRequests: this.badRequests };
  }

  get address(): { host: string | undefined; port: number } {
    return { host: this.host, port: this.port };
  }

  // ── request path ──────────────────────────────────────────────────────────

  private readonly onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const socket = req.socket as typeof req.socket & MaybeClosing;
    // A request pipelined behind one answered with close is not processed (RFC 9112 §9.6).
    if (socket[kClosing] === true) return;
    if (!res.shouldKeepAlive) socket[kClosing] = true;
    const start = performance.now();
    const head = scanRequestHead(req.rawHeaders, req.url!, req.httpVersionMinor === 0, socket.remoteAddress, this.proto);
    if (head.bad !== null) {
      // The framing or the target cannot be trusted: answer, close, and route nothing more from this connection.
      this.badRequests++;
      plain(res, 400, msg.badRequestBody(head.bad), undefined, true);
      return;
    }
    const m = this.hosts.match(head.host);
    if (m.kind !== 'app') {
      this.unrouted++;
      if (m.kind === 'missing') plain(res, 400, msg.MISSING_HOST_BODY, undefined, head.hasBody);
      else if (m.kind === 'invalid') plain(res, 400, msg.badRequestBody('invalid_host', m.host), undefined, true);
      else plain(res, 404, msg.foreignHostBody(head.host ?? '', this.hosts.domains), undefined, head.hasBody);
      return;
    }
    const app = this.apps.get(m.app);
    if (app === undefined) {
      this.unrouted++;
      plain(res, 404, msg.unknownAppBody(head.host ?? '', m.app), undefined, head.hasBody);
      return;
    }
    app.lastRequestAt = this.now();
    if (app.kind === 'no-release') {
      app.metrics.status(503, (performance.now() - start) / 1000);
      plain(res, 503, msg.noReleaseBody(app.name), undefined, head.hasBody);
      return;
    }
    const ex = new Exchange(this, req, res, app, head, start);
    (res as WithEx<http.ServerResponse>)[kEx] = ex;
    res.on('close', onResClose);
    this.dispatch(ex);
  };

  /** @internal */
  dispatch(ex: Exchange): void {
    const app = ex.app;
    const list = app.upstreams;
    if (list.length === 0) return this.hold(ex);
    const rr = app.rr;
    app.rr = rr >= 0x3fffffff ? 0 : rr + 1;
    const u = chooseUpstream(list, rr, ex.tried, performance.now());
    if (u === undefined) return this.hold(ex);
    this.send(ex, u);
  }

  private send(ex: Exchange, u: UpstreamState): void {
    ex.state = PROXYING;
    ex.upstream = u;
    ex.attempts++;
    u.inflight++;
    ex.app.inflight++;
    const req = ex.req;
    const ureq = http.request({
      agent: u.agent,
      method: req.method,
      path: ex.head.path,
      headers: ex.head.headers,
      setHost: false,
    }) as WithEx<http.ClientRequest>;
    ureq[kEx] = ex;
    ex.ureq = ureq;
    ex.ures = null;
    ureq.on('response', onUpResponse);
    ureq.on('error', onUpError);
    if (ex.head.hasBody) ureq.on('socket', onUpSocket);
    else ureq.end();
    ex.sentAt = performance.now();
    this.awaitingHeaders.add(ex);
  }

  /** @internal The exchange no longer occupies its upstream. */
  releaseUpstream(ex: Exchange): void {
    const u = ex.upstream;
    if (u === null) return;
    ex.upstream = null;
    this.awaitingHeaders.delete(ex);
    u.inflight--;
    ex.app.inflight--;
    if (u.draining && u.inflight === 0) {
      u.destroy();
      this.draining.delete(u);
      this.onUpstreamIdle?.(u.id);
    }
  }

  /** @internal */
  upstreamFailed(ex: Exchange, ureq: http.ClientRequest, err: NodeJS.ErrnoException): void {
    const u = ex.upstream!;
    const app = ex.app;
    this.releaseUpstream(ex);
    ex.ureq = null;
    app.metrics.upstreamErrors++;
    const code = err.code ?? 'EUNKNOWN';
    const connectFailed = err.syscall === 'connect' || CONNECT_ERRORS.has(code);
    if (connectFailed) u.downUntil = performance.now() + this.downMs;
    this.event(app, 'router.upstream_error', `upstream ${u.id} (${u.address}:${u.port}) failed: ${err.message}`, {
      instance: u.id,
      code,
      method: ex.req.method,
      path: ex.req.url,
    });
    if (ex.ures !== null) {
      // The response had started: nothing to retry, cut the client off so it sees a short body.
      ex.state = DONE;
      ex.res.destroy();
      return;
    }
    if (ex.res.destroyed || ex.res.headersSent) {
      ex.state = DONE;
      return;
    }
    let retry = false;
    let why: string;
    if (ex.attempts >= this.maxAttempts) {
      why = `It was tried ${ex.attempts} times.`;
    } else if (connectFailed) {
      retry = true; // nothing was sent: the body is only read once connected
      why = '';
    } else if (ex.bodyStarted || (ex.req.method !== 'GET' && ex.req.method !== 'HEAD')) {
      why = `A ${ex.req.method} whose request was sent is not retried, since the app may have acted on it.`;
    } else if (ex.resetRetried) {
      why = 'It was already retried once.';
    } else if (RESET_ERRORS.has(code)) {
      retry = true;
      ex.resetRetried = true;
      why = '';
    } else {
      why = 'This kind of failure is not retried.';
    }
    if (retry) {
      app.metrics.retries++;
      (ex.tried ??= []).push(u.id);
      ex.state = NEW;
      this.dispatch(ex);
      return;
    }
    ex.state = DONE;
    app.metrics.status(502, (performance.now() - ex.start) / 1000);
    plain(ex.res, 502, msg.badGatewayBody(app.name, code, why), undefined, ex.head.hasBody && !ex.bodyStarted);
  }

  // ── hold and wake ─────────────────────────────────────────────────────────

  private hold(ex: Exchange): void {
    const app = ex.app;
    if (this.closed) {
      ex.state = DONE;
      plain(ex.res, 503, msg.SHUTTING_DOWN_BODY, 1, ex.head.hasBody);
      return;
    }
    if (app.held.length >= this.maxHeld) {
      ex.state = DONE;
      app.metrics.rejected++;
      app.metrics.status(503, (performance.now() - ex.start) / 1000);
      this.event(app, 'router.hold_full', `hold queue full (${this.maxHeld}): request refused`, { max: this.maxHeld });
      plain(ex.res, 503, msg.holdFullBody(app.name, this.maxHeld), 1, ex.head.hasBody);
      return;
    }
    ex.state = HELD;
    ex.heldAt = performance.now();
    ex.holdTimer = setTimeout(onHoldTimeout, this.maxWaitMs, ex);
    app.held.push(ex);
    app.metrics.held++;
    if (app.wakeStartedAt === null) {
      app.wakeStartedAt = this.now();
      app.metrics.wakes++;
      this.event(app, 'router.wake', `no upstream for ${app.name}: holding requests and waking it`, undefined);
      if (this.wakeFn) {
        try {
          this.wakeFn(app.name);
        } catch (e) {
          this.event(app, 'router.wake_error', `wake(${app.name}) threw: ${(e as Error).message}`, undefined);
        }
      }
    }
  }

  private releaseHeld(app: AppEntry): void {
    const q = app.held;
    app.held = [];
    if (app.wakeStartedAt !== null) {
      app.metrics.wake(Math.max(0, this.now() - app.wakeStartedAt));
      app.wakeStartedAt = null;
    }
    for (const ex of q) {
      if (ex.holdTimer) clearTimeout(ex.holdTimer);
      ex.holdTimer = null;
      ex.state = NEW;
      this.dispatch(ex);
    }
  }

  private flushHeld(app: AppEntry, status: number, body: string, retryAfter: number | undefined): void {
    const q = app.held;
    app.held = [];
    app.wakeStartedAt = null;
    for (const ex of q) {
      if (ex.holdTimer) clearTimeout(ex.holdTimer);
      ex.holdTimer = null;
      ex.state = DONE;
      app.metrics.status(status, (performance.now() - ex.start) / 1000);
      plain(ex.res, status, body, retryAfter, ex.head.hasBody);
    }
  }

  /** @internal */
  holdTimedOut(ex: Exchange): void {
    if (ex.state !== HELD) return;
    ex.holdTimer = null;
    const app = ex.app;
    this.unhold(ex);
    ex.state = DONE;
    app.metrics.holdTimeouts++;
    app.metrics.status(503, (performance.now() - ex.start) / 1000);
    this.event(app, 'router.hold_timeout', `request held ${this.maxWaitMs}ms without an upstream`, { maxWaitMs: this.maxWaitMs });
    plain(ex.res, 503, msg.holdTimeoutBody(app.name, performance.now() - ex.heldAt), 5, ex.head.hasBody);
  }

  /** @internal Removes a held exchange from its queue. */
  unhold(ex: Exchange): void {
    const app = ex.app;
    const i = app.held.indexOf(ex);
    if (i !== -1) app.held.splice(i, 1);
    if (ex.holdTimer) clearTimeout(ex.holdTimer);
    ex.holdTimer = null;
    // An episode nobody waits for any more is over: the next request wakes again.
    if (app.held.length === 0) app.wakeStartedAt = null;
  }

  // ── timeouts and events ───────────────────────────────────────────────────

  private sweep(): void {
    const deadline = performance.now() - this.headerTimeoutMs;
    for (const ex of this.awaitingHeaders) {
      if (ex.sentAt > deadline) break; // insertion order is send order
      const ureq = ex.ureq;
      const app = ex.app;
      this.releaseUpstream(ex);
      ex.state = DONE;
      ex.ureq = null;
      ureq?.destroy();
      app.metrics.timeouts++;
      app.metrics.status(504, (performance.now() - ex.start) / 1000);
      this.event(app, 'router.upstream_timeout', `no response headers within ${this.headerTimeoutMs}ms`, {
        method: ex.req.method,
        path: ex.req.url,
      });
      plain(ex.res, 504, msg.gatewayTimeoutBody(app.name, this.headerTimeoutMs), undefined, ex.head.hasBody && !ex.bodyStarted);
    }
  }

  /** Emits an event, at most one per type per app per eventIntervalMs; the next one says how many were dropped. */
  private event(app: AppEntry, type: string, message: string, data: Record<string, unknown> | undefined): void {
    if (!this.onEvent) return;
    const now = this.now();
    let rl = app.events.get(type);
    if (rl === undefined) {
      rl = { at: -Infinity, suppressed: 0 };
      app.events.set(type, rl);
    }
    if (now - rl.at < this.eventIntervalMs) {
      rl.suppressed++;
      return;
    }
    const suppressed = rl.suppressed;
    rl.at = now;
    rl.suppressed = 0;
    const d = suppressed > 0 ? { ...data, suppressed } : data;
    try {
      this.onEvent(d === undefined ? { type, app: app.name, message } : { type, app: app.name, message, data: d });
    } catch {
      // an observer's failure must not break the request path
    }
  }

  private drainUpstream(u: UpstreamState): void {
    if (this.live.get(u.id) === u) this.live.delete(u.id);
    u.drain();
    if (u.inflight > 0) this.draining.add(u);
  }

  // Upgrades (WebSocket) use the same route table; see upgrade.ts.
  private readonly upgradeHooks = {
    route: (host: string | undefined) => {
      const m = this.hosts.match(host);
      if (m.kind !== 'app') return undefined;
      const app = this.apps.get(m.app);
      if (!app || app.kind !== 'serving' || app.upstreams.length === 0) return undefined;
      const rr = app.rr;
      app.rr = rr >= 0x3fffffff ? 0 : rr + 1;
      const u = chooseUpstream(app.upstreams, rr, null, performance.now());
      if (!u) return undefined;
      app.lastRequestAt = this.now();
      return {
        upstream: u,
        begin: () => {
          u.inflight++;
          app.inflight++;
        },
        end: () => {
          u.inflight--;
          app.inflight--;
          if (u.draining && u.inflight === 0) {
            u.destroy();
            this.draining.delete(u);
            this.onUpstreamIdle?.(u.id);
          }
        },
      };
    },
  };
}

// ── module-level handlers: `this` is the emitter, the exchange hangs off it ──

function onResClose(this: WithEx<http.ServerResponse>): void {
  const ex = this[kEx];
  if (ex === undefined) return;
  if (ex.state === HELD) {
    ex.state = DONE;
    ex.router.unhold(ex);
  } else if (ex.state === PROXYING) {
    // client went away before the response finished: stop the upstream work
    ex.state = DONE;
    const ureq = ex.ureq;
    ex.ureq = null;
    ex.router.releaseUpstream(ex);
    ureq?.destroy();
  }
}

function onUpSocket(this: WithEx<http.ClientRequest>, socket: import('node:net').Socket): void {
  // The body is read only once the connection is up, so a refused connect has consumed
  // nothing and the request can go to another upstream intact.
  if (socket.connecting) {
    const ureq = this;
    socket.once('connect', () => startBody(ureq));
  } else {
    startBody(this);
  }
}

function startBody(ureq: WithEx<http.ClientRequest>): void {
  const ex = ureq[kEx];
  if (ex === undefined || ex.ureq !== ureq || ex.state !== PROXYING) return;
  ex.bodyStarted = true;
  ex.req.pipe(ureq);
}

function onUpResponse(this: WithEx<http.ClientRequest>, ures: WithEx<http.IncomingMessage>): void {
  const ex = this[kEx];
  if (ex === undefined || ex.ureq !== this || ex.state !== PROXYING) {
    ures.resume();
    return;
  }
  ex.router['awaitingHeaders'].delete(ex);
  ex.ures = ures;
  ures[kEx] = ex;
  const res = ex.res;
  res.writeHead(ures.statusCode ?? 502, filterResponseHeaders(ures.rawHeaders));
  // Knowing the length lets the last chunk go out with end(): one write instead of two steps.
  ex.remaining = ex.req.method === 'HEAD' ? -1 : contentLengthOf(ures.rawHeaders);
  ures.on('data', onUpData);
  ures.on('end', onUpEnd);
  ures.on('error', onUpBodyError);
}

function onUpData(this: WithEx<http.IncomingMessage>, chunk: Buffer): void {
  const ex = this[kEx]!;
  if (ex.remaining > 0) {
    ex.remaining -= chunk.length;
    if (ex.remaining === 0) {
      ex.res.end(chunk);
      return;
    }
  }
  if (!ex.res.write(chunk)) {
    this.pause();
    ex.res.once('drain', onResDrain);
  }
}

function onResDrain(this: WithEx<http.ServerResponse>): void {
  this[kEx]?.ures?.resume();
}

function onUpEnd(this: WithEx<http.IncomingMessage>): void {
  const ex = this[kEx]!;
  if (ex.state !== PROXYING) return;
  ex.state = DONE;
  // onUpData ended it when the last counted byte came; a Content-Length: 0 body has no data at all
  if (!ex.res.writableEnded) ex.res.end();
  ex.router.releaseUpstream(ex);
  ex.app.metrics.status(this.statusCode ?? 502, (performance.now() - ex.start) / 1000);
}

function onUpBodyError(this: WithEx<http.IncomingMessage>, err: NodeJS.ErrnoException): void {
  const ex = this[kEx]!;
  if (ex.state !== PROXYING || ex.ureq === null) return;
  ex.router.upstreamFailed(ex, ex.ureq, err);
}

function onUpError(this: WithEx<http.ClientRequest>, err: NodeJS.ErrnoException): void {
  const ex = this[kEx];
  if (ex === undefined || ex.ureq !== this || ex.state !== PROXYING) return;
  ex.router.upstreamFailed(ex, this, err);
}

function onHoldTimeout(ex: Exchange): void {
  ex.router.holdTimedOut(ex);
}

/** A small plain-text response the router makes itself. */
function plain(res: http.ServerResponse, status: number, body: string, retryAfter: number | undefined, unreadBody: boolean): void {
  if (res.headersSent || res.destroyed) return;
  const headers = ['Content-Type', 'text/plain; charset=utf-8', 'Content-Length', String(Buffer.byteLength(body)), 'Cache-Control', 'no-store'];
  if (retryAfter !== undefined) headers.push('Retry-After', String(retryAfter));
  // An unread request body would have to be read and thrown away to reuse the connection.
  if (unreadBody) {
    headers.push('Connection', 'close');
    const socket = res.req?.socket as (typeof res.req.socket & MaybeClosing) | null | undefined;
    if (socket) socket[kClosing] = true;
  }
  res.writeHead(status, headers);
  res.end(body);
}
