// The pieces server.ts puts between a node's parts when it is one of several control-plane
// nodes: the router the leader's controller drives (its own data plane, and every follower's
// through the published routes), agents that take desired sets only while this node leads,
// and the API of a follower, which answers for the leader by forwarding to it.
import http from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { forwardedFor } from '../api/auth.js';
import type { HostAgent } from '../agent/host-agent.js';
import type { RouterPort } from '../control/controller.js';
import type { Logger } from '../logging/logger.js';
import type { ClusterNode, PublishedRoute } from './cluster-node.js';

/** A drained instance stays this long after the route without it is published, at least, so
 *  followers' data planes (told within milliseconds by NOTIFY) stop sending to it first. */
export const FOLLOWER_DRAIN_GRACE_MS = 1000;
/** A follower's stats count while its heartbeat is this recent. */
const STATS_FRESH_MS = 5000;

export class PublishingRouter implements RouterPort {
  private readonly upstreams = new Map<string, Set<string>>();
  private readonly removedAt = new Map<string, number>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly next = new Map<string, PublishedRoute | null>();

  constructor(private readonly local: RouterPort, private readonly cluster: ClusterNode, private readonly log: Logger, private readonly now: () => number = Date.now) {}

  setRoute(app: string, route: PublishedRoute): void {
    this.local.setRoute(app, route);
    const ids = new Set(route.kind === 'serving' ? route.upstreams.map((u) => u.id) : []);
    const at = this.now();
    for (const id of this.upstreams.get(app) ?? []) if (!ids.has(id)) this.removedAt.set(id, at);
    for (const id of ids) this.removedAt.delete(id);
    this.upstreams.set(app, ids);
    this.publish(app, route);
  }

  deleteRoute(app: string): void {
    this.local.deleteRoute(app);
    this.upstreams.delete(app);
    this.publish(app, null);
  }

  inflight(instanceId: string): number {
    const n = this.local.inflight(instanceId);
    const removed = this.removedAt.get(instanceId);
    if (removed !== undefined) {
      if (this.now() - removed < FOLLOWER_DRAIN_GRACE_MS) return Math.max(n, 1);
      this.removedAt.delete(instanceId);
    }
    return n;
  }

  /** This node's data plane and every follower's (from their heartbeats) together. */
  appStats(app: string): { inflight: number; held: number; lastRequestAt: number | null } {
    const s = { ...this.local.appStats(app) };
    for (const p of this.cluster.peers()) {
      if (p.id === this.cluster.node || p.ageMs > STATS_FRESH_MS) continue;
      const o = p.stats[app];
      if (!o) continue;
      s.inflight += o.inflight;
      s.held += o.held;
      if (o.lastRequestAt !== null && (s.lastRequestAt === null || o.lastRequestAt > s.lastRequestAt)) s.lastRequestAt = o.lastRequestAt;
    }
    return s;
  }

  /** Written in order per app, the latest route only when several came while one was written. */
  private publish(app: string, route: PublishedRoute | null): void {
    this.next.set(app, route);
    if (this.inFlight.has(app)) return;
    const run = async (): Promise<void> => {
      while (this.next.has(app)) {
        const r = this.next.get(app)!;
        this.next.delete(app);
        await this.cluster.publishRoute(app, r).catch((err: unknown) => this.log.warn({ err, app }, 'route not published to the other nodes'));
      }
      this.inFlight.delete(app);
    };
    this.inFlight.set(app, run());
  }

  /** Every route write under way, done. */
  async flushed(): Promise<void> {
    while (this.inFlight.size) await Promise.all(this.inFlight.values());
  }
}

/** The agent as the controller sees it: its desired set is passed on only while this node leads
 *  (a deposed node's controller, closing, changes no host). */
export function gateAgent(a: HostAgent, leading: () => boolean): HostAgent {
  return new Proxy(a, {
    get(target, prop, receiver) {
      if (prop === 'setDesired') return (list: Parameters<HostAgent['setDesired']>[0]) => (leading() ? target.setDesired(list) : Promise.resolve());
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...x: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/** What a follower answers itself: the dashboard's files, health, its own cluster view. */
export function forwarded(url: string): boolean {
  const path = url.split('?')[0];
  if (path === '/api/cluster' || path === '/api/openapi.json') return false;
  return path.startsWith('/api/') || path.startsWith('/git/') || path.startsWith('/internal/') || path === '/metrics';
}

/** Puts `forward` in front of the API server's own handler: while this node follows, API, git
 *  and push-hook requests go to the leader's API (streamed both ways), and get a 503 with
 *  Retry-After while no leader is known (a failover). */
export function forwardWhileFollowing(server: http.Server, o: {
  leading: () => boolean; leader: () => { node: string; apiUrl: string | null } | null; node: string; log: Logger;
  /** Sent with each forwarded request and checked on arrival (derived from the master key every
   *  node shares): only then is the client's address taken from X-Forwarded-For. */
  proof: string;
}): void {
  const handlers = server.listeners('request') as ((req: http.IncomingMessage, res: http.ServerResponse) => void)[];
  server.removeAllListeners('request');
  const proof = Buffer.from(o.proof);
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const given = req.headers['x-summon-forward-proof'];
    if (typeof given === 'string') {
      const g = Buffer.from(given);
      const client = String(req.headers['x-forwarded-for'] ?? '').split(',')[0].trim();
      if (g.length === proof.length && timingSafeEqual(g, proof) && client) forwardedFor.set(req, client);
    }
    delete req.headers['x-summon-forward-proof'];
    if (o.leading() || !forwarded(req.url ?? '/')) {
      for (const h of handlers) h(req, res);
      return;
    }
    const l = o.leader();
    const unavailable = (why: string) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '2' });
      res.end(JSON.stringify({ error: { code: 'unavailable', message: `${why}: retry in a few seconds (\`summon status\` shows the nodes)` } }));
    };
    if (!l || !l.apiUrl || l.node === o.node) {
      req.resume();
      unavailable(`node ${o.node} follows and no leader is known right now (a failover is under way)`);
      return;
    }
    const target = new URL(l.apiUrl);
    const headers = { ...req.headers, 'x-forwarded-for': forwardedFor.get(req) ?? req.socket.remoteAddress ?? '', 'x-summon-forwarded-by': o.node, 'x-summon-forward-proof': o.proof };
    const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
      ur.on('error', () => res.destroy());
    });
    up.on('error', (err) => {
      o.log.warn({ err, leader: l.node }, 'request not forwarded to the leader');
      unavailable(`the leader ${l.node} did not answer node ${o.node} (${(err as NodeJS.ErrnoException).code ?? err.message})`);
    });
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    req.pipe(up);
  });
}
