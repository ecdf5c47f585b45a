// The HTTP router: Host header → app → least-loaded upstream, on node:http with one
// keep-alive socket pool per upstream (upstream-pool.ts). Requests for an app with no
// upstream are held (body unread) while the control plane wakes it; failed connects and
// idempotent requests whose upstream died before answering are retried elsewhere or held.
// Before a request exists (connection limits, header and idle timeouts, heads the parser
// refuses, CONNECT) is client-edge.ts; what a head may hold and how it is rewritten, headers.ts.
//
// The parts, each in its own file: the route table (route-table.ts), the hold queue
// (hold-queue.ts), the retry decision (retry.ts, a pure function) and the per-request
// Exchange with its state machine and event handlers (exchange.ts). This file is the Router
// that ties them: options, lifecycle, dispatch, sending upstream, failures, header timeouts,
// events and observation.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { InvalidInputError } from '../core/errors.js';
import { checkAppName } from '../core/names.js';
import { ClientEdge, type ClientEdgeStats } from './client-edge.js';
import { REQUEST_TIMEOUT_MS, resolveClientLimits, type ClientLimitOptions, type ClientLimits } from './client-limits.js';
import { DONE, Exchange, NEW, PROXYING, kEx, onResClose, onUpError, onUpResponse, onUpSocket, plain, type ExchangeOwner, type WithEx } from './exchange.js';
import { scanRequestHead } from './headers.js';
import { HoldQueue } from './hold-queue.js';
import { HostParser, type HostMatch } from './host-parser.js';
import { ownerOf } from '../core/domains.js';
import * as msg from './messages.js';
import type { RouterMetrics } from './metrics.js';
import { kClosing, type MaybeClosing } from './raw-response.js';
import { isConnectFailure, retryDecision } from './retry.js';
import { RouteTable, type AppEntry } from './route-table.js';
import { chooseUpstream, type Upstream, type UpstreamState } from './upstream-pool.js';
import { handleUpgrade } from './upgrade.js';
import { DEFAULT_POLICY, EMPTY_EDGE, type EdgeState } from './edge-types.js';
import { TlsListener, type TlsListenerStats } from './tls-listener.js';

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
  /** Value of X-Forwarded-Proto and Forwarded's proto=: 'http' (default) or 'https'; a
   *  connection to `httpsPort` is always 'https'. */
  proto?: string;
  /** HTTPS (tls-listener.ts) on this port too, with the certificates of setEdge(); absent or
   *  null: none. */
  httpsPort?: number | null;
  /** Where HTTPS listens when not where HTTP does (`host`): behind HAProxy, HTTP is on loopback
   *  for HAProxy only and HTTPS on the public address. */
  httpsHost?: string;
  /** Client connection limits and timeouts; defaults and reasons in client-limits.ts. */
  client?: ClientLimitOptions;
  /** Called when an upstream removed from its route has no request in flight any more (a
   *  control plane in another process learns a drain is over without polling). */
  onUpstreamIdle?: (instanceId: string) => void;
  /** Behind HAProxy (the HAProxy data plane's holder): the client's address and scheme are
   *  read from the X-Forwarded-For / X-Forwarded-Proto HAProxy set (it replaces a client's
   *  own), and a request whose app has an upstream is handed back (425, HAProxy retries it on
   *  the server now in the backend) unless its body is bigger than `handBackMaxBody` bytes
   *  or chunked (HAProxy cannot replay those: the holder proxies them itself). */
  behindHaproxy?: { handBackMaxBody: number };
}

function isIntIn(v: unknown, lo: number, hi: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;
}

const ACME_PREFIX = '/.well-known/acme-challenge/';

export class Router implements ExchangeOwner {
  private readonly server: http.Server;
  private readonly host: string | undefined;
  private port: number;
  private readonly hosts: HostParser;
  private readonly wakeFn: ((app: string) => void) | undefined;
  private readonly onEvent: ((e: RouterEvent) => void) | undefined;
  private readonly now: () => number;
  private readonly headerTimeoutMs: number;
  private readonly maxAttempts: number;
  private readonly downMs: number;
  private readonly eventIntervalMs: number;
  private readonly agentOpts: { maxSockets: number; maxFreeSockets: number };
  private readonly proto: string;
  private readonly clientLimits: ClientLimits;
  private readonly edge: ClientEdge;
  private readonly behind: { handBackMaxBody: number } | undefined;
  private readonly table: RouteTable;
  private readonly holds: HoldQueue;
  /** Custom domains, certificates, ACME answers and policies, as the control plane last set them. */
  private edgeNow: EdgeState = EMPTY_EDGE;
  /** Exchanges sent upstream and waiting for response headers, in send order. */
  private readonly awaitingHeaders = new Set<Exchange>();
  private sweepTimer: NodeJS.Timeout | null = null;
  private unrouted = 0;
  /** Heads refused 400 by the router's own checks (headers.ts), before any routing. */
  private badRequests = 0;
  private closed = false;
  private readonly tls: TlsListener | null;
  /** The port HTTPS listens on (`force_https` redirects name it when it is not 443). */
  private httpsPort: number | null;

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
    const httpsPort = opts.httpsPort ?? null;
    if (httpsPort !== null && !isIntIn(httpsPort, 0, 65535)) throw new InvalidInputError(`router: httpsPort: ${String(httpsPort)} is not an integer in 0..65535`);
    if (httpsPort !== null && httpsPort !== 0 && httpsPort === opts.port) throw new InvalidInputError(`router: httpsPort ${httpsPort} is the HTTP port too: give HTTPS a port of its own`);
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
    this.headerTimeoutMs = headerTimeoutMs;
    this.maxAttempts = maxAttempts;
    this.downMs = downMs;
    this.eventIntervalMs = eventIntervalMs;
    this.agentOpts = { maxSockets, maxFreeSockets };
    this.proto = proto;
    this.clientLimits = clientLimits;
    this.behind = opts.behindHaproxy;
    this.table = new RouteTable(this.agentOpts, opts.onUpstreamIdle);
    this.holds = new HoldQueue(maxHeld, maxWaitMs, {
      dispatch: (ex) => this.dispatch(ex),
      event: (app, type, message, data) => this.event(app, type, message, data),
      wake: opts.wake,
      now: this.now,
      closed: () => this.closed,
    });

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
      handleUpgrade(this.upgradeHooks, (req.socket as { encrypted?: boolean }).encrypted === true ? 'https' : this.proto, req, socket, head);
    });
    this.httpsPort = httpsPort;
    this.tls = httpsPort === null ? null : new TlsListener(this.server, {
      port: httpsPort, ...((opts.httpsHost ?? opts.host) !== undefined ? { host: opts.httpsHost ?? opts.host } : {}),
      handshakeTimeoutMs: clientLimits.headerTimeoutMs, maxConnections: clientLimits.maxConnections,
    });
  }

  // ── lifecycle ─────────────────────────────────────────────────────────────

  async listen(): Promise<{ port: number; httpsPort: number | null }> {
    const { port } = await this.listenHttp();
    if (this.tls) {
      try {
        this.httpsPort = await this.tls.listen();
      } catch (e) {
        await new Promise<void>((r) => this.server.close(() => r()));
        if (this.sweepTimer) clearInterval(this.sweepTimer);
        throw e;
      }
    }
    return { port, httpsPort: this.httpsPort };
  }

  private listenHttp(): Promise<{ port: number }> {
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
    for (const app of this.table.apps.values()) this.holds.flush(app, 503, msg.SHUTTING_DOWN_BODY, 1);
    const tlsDone = this.tls?.close();
    const done = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([done, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    this.server.closeAllConnections();
    await done;
    await tlsDone;
    this.table.destroyAll();
  }

  // ── route table ───────────────────────────────────────────────────────────

  setRoute(name: string, route: AppRoute): void {
    checkAppName(name);
    if (route?.kind !== 'serving' && route?.kind !== 'no-release') {
      throw new InvalidInputError(`router: route for ${name}: kind must be 'serving' or 'no-release'`);
    }
    const app = this.table.ensure(name, route.kind);
    if (route.kind === 'no-release') {
      this.table.clearUpstreams(app);
      app.kind = 'no-release';
      this.holds.flush(app, 503, msg.noReleaseBody(name), undefined);
      return;
    }
    this.table.setUpstreams(app, route.upstreams);
    if (app.upstreams.length > 0 && app.held.length > 0) this.holds.release(app);
  }

  /** The edge state (edge-types.ts), replaced whole: a custom domain routes to the app that
   *  owns it; certificates are served by SNI (a certificate that does not load is left out and
   *  said in a `router.cert_rejected` event, the rest are served); ACME HTTP-01 answers and
   *  per-app HTTPS policy apply to the next request. */
  setEdge(edge: EdgeState): void {
    if (!edge || typeof edge.domains !== 'object' || !Array.isArray(edge.certs)) throw new InvalidInputError('router: setEdge: not an edge state');
    if (typeof edge.challenges !== 'object' || edge.challenges === null || typeof edge.policies !== 'object' || edge.policies === null) {
      throw new InvalidInputError('router: setEdge: challenges and policies must be objects');
    }
    this.edgeNow = edge;
    const rejected = this.tls?.setCerts(edge.certs).rejected ?? [];
    for (const r of rejected) {
      try {
        this.onEvent?.({ type: 'router.cert_rejected', app: r.app, message: `certificate ${r.id.slice(0, 12)} not served: ${r.reason}`, data: { cert: r.id } });
      } catch {
        // an observer's failure must not break the edge
      }
    }
  }

  currentEdge(): EdgeState {
    return this.edgeNow;
  }

  /** NAME.<domain> first, then the custom domains apps own (exact, then a wildcard). */
  private matchHost(host: string | undefined): HostMatch {
    const m = this.hosts.match(host);
    if (m.kind !== 'foreign') return m;
    const owner = ownerOf(this.edgeNow.domains, m.host);
    return owner === undefined ? m : { kind: 'app', app: owner };
  }

  deleteRoute(name: string): void {
    const app = this.table.get(name);
    if (!app) return;
    this.table.clearUpstreams(app);
    this.holds.flush(app, 404, msg.appGoneBody(name), undefined);
    this.table.delete(name);
  }

  // ── observation ───────────────────────────────────────────────────────────

  inflight(instanceId: string): number {
    return this.table.inflight(instanceId);
  }

  appStats(name: string): { inflight: number; held: number; lastRequestAt: number | null } {
    const app = this.table.get(name);
    if (!app) return { inflight: 0, held: 0, lastRequestAt: null };
    return { inflight: app.inflight, held: app.held.length, lastRequestAt: app.lastRequestAt };
  }

  /** Requests in flight per instance, for those that have any (routed or draining). */
  busyUpstreams(): Record<string, number> {
    return this.table.busyUpstreams();
  }

  /** Snapshots of the apps whose counters moved since the marks (updated in place): what an
   *  idle app costs here is one sum. */
  metricsChanged(marks: Map<string, number>): RouterMetrics {
    const apps: RouterMetrics['apps'] = {};
    for (const [name, app] of this.table.apps) {
      const m = app.metrics.mark();
      if (marks.get(name) === m) continue;
      marks.set(name, m);
      apps[name] = app.metrics.snapshot();
    }
    return { apps, unrouted: this.unrouted };
  }

  /** The apps in the route table. */
  routedApps(): string[] {
    return [...this.table.apps.keys()];
  }

  /** Every app's counters; with `answeredOnly`, only apps that have been sent a request (the
   *  dashboard's series recorder: an app never asked for has no rate to chart, and a thousand
   *  idle apps are not copied every sample). */
  metrics(o: { answeredOnly?: boolean } = {}): RouterMetrics {
    const apps: RouterMetrics['apps'] = {};
    for (const [name, app] of this.table.apps) {
      if (o.answeredOnly && !app.metrics.answered()) continue;
      apps[name] = app.metrics.snapshot();
    }
    return { apps, unrouted: this.unrouted };
  }

  /** Client connections open now, and what the edge refused or cut; `limits` as resolved. */
  clientStats(): ClientEdgeStats & { limits: ClientLimits; badRequests: number } {
    return { ...this.edge.stats(), limits: { ...this.clientLimits }, badRequests: this.badRequests };
  }

  get address(): { host: string | undefined; port: number; httpsPort: number | null } {
    return { host: this.host, port: this.port, httpsPort: this.httpsPort };
  }

  /** HTTPS handshakes refused and failed, certificates loaded; null without HTTPS. */
  tlsStats(): TlsListenerStats | null {
    return this.tls?.stats() ?? null;
  }

  // ── request path ──────────────────────────────────────────────────────────

  private readonly onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const socket = req.socket as typeof req.socket & MaybeClosing;
    // A request pipelined behind one answered with close is not processed (RFC 9112 §9.6).
    if (socket[kClosing] === true) return;
    if (!res.shouldKeepAlive) socket[kClosing] = true;
    const start = performance.now();
    const secure = (socket as { encrypted?: boolean }).encrypted === true;
    let clientIp = socket.remoteAddress;
    let proto = secure ? 'https' : this.proto;
    // Only HAProxy reaches the loopback HTTP listener; a TLS client is a client of ours.
    if (this.behind !== undefined && !secure) ({ clientIp, proto } = forwardedByHaproxy(req.rawHeaders, clientIp, proto));
    const head = scanRequestHead(req.rawHeaders, req.url!, req.httpVersionMinor === 0, clientIp, proto);
    if (head.bad !== null) {
      // The framing or the target cannot be trusted: answer, close, and route nothing more from this connection.
      this.badRequests++;
      plain(res, 400, msg.badRequestBody(head.bad), undefined, true);
      return;
    }
    // ACME HTTP-01, for any host (the CA asks by the name being validated, before any app
    // may own it); a token not in flight goes on to the app, which may answer its own.
    if (head.path.startsWith(ACME_PREFIX) && (req.method === 'GET' || req.method === 'HEAD')) {
      const answer = this.edgeNow.challenges[head.path.slice(ACME_PREFIX.length)];
      if (typeof answer === 'string') {
        plain(res, 200, answer, undefined, head.hasBody);
        return;
      }
    }
    const m = this.matchHost(head.host);
    if (m.kind !== 'app') {
      this.unrouted++;
      if (m.kind === 'missing') plain(res, 400, msg.MISSING_HOST_BODY, undefined, head.hasBody);
      else if (m.kind === 'invalid') plain(res, 400, msg.badRequestBody('invalid_host', m.host), undefined, true);
      else plain(res, 404, msg.foreignHostBody(head.host ?? '', this.hosts.domains), undefined, head.hasBody);
      return;
    }
    const app = this.table.get(m.app);
    if (app === undefined) {
      this.unrouted++;
      plain(res, 404, msg.unknownAppBody(head.host ?? '', m.app), undefined, head.hasBody);
      return;
    }
    const policy = this.edgeNow.policies[app.name] ?? DEFAULT_POLICY;
    if (!secure && policy.forceHttps && !head.path.startsWith(ACME_PREFIX)) {
      this.redirectToHttps(res, head.host ?? '', head.path, head.hasBody);
      return;
    }
    app.lastRequestAt = this.now();
    if (app.kind === 'no-release') {
      app.metrics.status(503, (performance.now() - start) / 1000);
      plain(res, 503, msg.noReleaseBody(app.name), undefined, head.hasBody);
      return;
    }
    const ex = new Exchange(this, req, res, app, head, start);
    if (secure && policy.hstsMaxAge !== null) ex.hsts = `max-age=${policy.hstsMaxAge}`;
    (res as WithEx<http.ServerResponse>)[kEx] = ex;
    res.on('close', onResClose);
    this.dispatch(ex);
  };

  /** `[http] force_https`: 308 (method and body kept) to the same target over HTTPS. */
  private redirectToHttps(res: http.ServerResponse, host: string, path: string, unreadBody: boolean): void {
    const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0];
    const port = this.httpsPort === null || this.httpsPort === 443 ? '' : `:${this.httpsPort}`;
    const location = `https://${name}${port}${path === '*' ? '/' : path}`;
    const body = `Use HTTPS: ${location}\n`;
    const headers = ['Location', location, 'Content-Type', 'text/plain; charset=utf-8', 'Content-Length', String(Buffer.byteLength(body)), 'Cache-Control', 'no-store'];
    if (unreadBody) {
      headers.push('Connection', 'close');
      (res.req.socket as typeof res.req.socket & MaybeClosing)[kClosing] = true;
    }
    res.writeHead(308, headers);
    res.end(body);
  }

  /** @internal */
  dispatch(ex: Exchange): void {
    const app = ex.app;
    const list = app.upstreams;
    if (list.length === 0) return this.holds.hold(ex);
    // Only a request HAProxy sent (on the loopback HTTP listener) can be handed back: one that
    // came in on this router's own TLS listener has no HAProxy to retry it, and is proxied here.
    const fromHaproxy = (ex.req.socket as { encrypted?: boolean }).encrypted !== true;
    if (this.behind !== undefined && fromHaproxy && ex.attempts === 0 && handBackable(ex.req, this.behind.handBackMaxBody)) {
      // HAProxy has the server by now (the data plane adds it before telling this router).
      ex.state = DONE;
      const res = ex.res;
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(425, ['Content-Length', '0', 'Cache-Control', 'no-store']);
        res.end();
      }
      return;
    }
    const rr = app.rr;
    app.rr = rr >= 0x3fffffff ? 0 : rr + 1;
    const u = chooseUpstream(list, rr, ex.tried, performance.now());
    if (u === undefined) return this.holds.hold(ex);
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
    this.table.settle(u);
  }

  /** @internal */
  headersArrived(ex: Exchange): void {
    this.awaitingHeaders.delete(ex);
  }

  /** @internal */
  upstreamFailed(ex: Exchange, ureq: http.ClientRequest, err: NodeJS.ErrnoException): void {
    const u = ex.upstream!;
    const app = ex.app;
    this.releaseUpstream(ex);
    ex.ureq = null;
    app.metrics.upstreamErrors++;
    const code = err.code ?? 'EUNKNOWN';
    const connectFailed = isConnectFailure(err);
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
    const d = retryDecision({
      attempts: ex.attempts,
      maxAttempts: this.maxAttempts,
      connectFailed,
      code,
      method: ex.req.method,
      bodyStarted: ex.bodyStarted,
      resetRetried: ex.resetRetried,
    });
    if (d.retry) {
      if (d.reset) ex.resetRetried = true;
      app.metrics.retries++;
      (ex.tried ??= []).push(u.id);
      ex.state = NEW;
      this.dispatch(ex);
      return;
    }
    const why = d.why;
    ex.state = DONE;
    app.metrics.status(502, (performance.now() - ex.start) / 1000);
    plain(ex.res, 502, msg.badGatewayBody(app.name, code, why), undefined, ex.head.hasBody && !ex.bodyStarted);
  }

  // ── hold and wake (hold-queue.ts) ─────────────────────────────────────────

  /** @internal */
  holdTimedOut(ex: Exchange): void {
    this.holds.timedOut(ex);
  }

  /** @internal Removes a held exchange from its queue. */
  unhold(ex: Exchange): void {
    this.holds.unhold(ex);
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

  // Upgrades (WebSocket) use the same route table; see upgrade.ts.
  private readonly upgradeHooks = {
    route: (host: string | undefined) => {
      const m = this.matchHost(host);
      if (m.kind !== 'app') return undefined;
      const app = this.table.get(m.app);
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
          this.table.settle(u);
        },
      };
    },
  };
}

/** The client's address and scheme as HAProxy set them (one value each; it replaces a client's). */
function forwardedByHaproxy(raw: string[], ip: string | undefined, proto: string): { clientIp: string | undefined; proto: string } {
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i];
    if (n.length === 15 && n.toLowerCase() === 'x-forwarded-for') ip = raw[i + 1];
    else if (n.length === 17 && n.toLowerCase() === 'x-forwarded-proto') {
      const v = raw[i + 1];
      if (v === 'https' || v === 'http') proto = v;
    }
  }
  return { clientIp: ip, proto };
}

/** HAProxy can replay it: no body, or a Content-Length body that fits its buffer. */
function handBackable(req: http.IncomingMessage, max: number): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return false;
  const cl = req.headers['content-length'];
  return cl === undefined || Number(cl) <= max;
}
