// The router's route table: app name → its entry (kind, upstreams, held requests, counters),
// the upstreams in some route by instance id, and the upstreams removed from their route that
// still have requests in flight (draining). It decides nothing about requests; router.ts asks
// it for an app's upstreams and tells it when an upstream is let go.

import { InvalidInputError } from '../core/errors.js';
import type { Exchange } from './exchange.js';
import { AppMetrics } from './metrics.js';
import { UpstreamState, type PoolOptions, type Upstream } from './upstream-pool.js';

export interface AppEntry {
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

function isIntIn(v: unknown, lo: number, hi: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;
}

export class RouteTable {
  readonly apps = new Map<string, AppEntry>();
  /** Upstreams in some route, by instance id. */
  readonly live = new Map<string, UpstreamState>();
  /** Upstreams removed from their route that still have requests in flight. */
  readonly draining = new Set<UpstreamState>();

  constructor(
    private readonly poolOpts: PoolOptions,
    private readonly onUpstreamIdle: ((id: string) => void) | undefined,
  ) {}

  get(name: string): AppEntry | undefined {
    return this.apps.get(name);
  }

  /** The app's entry, made (with `kind`) when it has none. */
  ensure(name: string, kind: AppEntry['kind']): AppEntry {
    let app = this.apps.get(name);
    if (!app) {
      app = {
        name,
        kind,
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
    return app;
  }

  /** Drains every upstream of the app and leaves it with none. */
  clearUpstreams(app: AppEntry): void {
    for (const u of app.upstreams) this.drainUpstream(u);
    app.upstreams = [];
  }

  /** Makes `upstreams` the app's: kept ones keep their pools, draining ones come back, the
   *  rest drain. Throws (changing nothing) on a malformed upstream. */
  setUpstreams(app: AppEntry, upstreams: Upstream[]): void {
    const name = app.name;
    if (!Array.isArray(upstreams)) throw new InvalidInputError(`router: route for ${name}: upstreams must be an array`);
    const next: UpstreamState[] = [];
    for (const u of upstreams) {
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
            s = new UpstreamState(u, this.poolOpts);
          }
        }
      }
      if (!next.includes(s)) next.push(s);
    }
    for (const old of app.upstreams) if (!next.includes(old)) this.drainUpstream(old);
    for (const s of next) this.live.set(s.id, s);
    app.upstreams = next;
    app.kind = 'serving';
  }

  delete(name: string): void {
    this.apps.delete(name);
  }

  drainUpstream(u: UpstreamState): void {
    if (this.live.get(u.id) === u) this.live.delete(u.id);
    u.drain();
    if (u.inflight > 0) this.draining.add(u);
  }

  /** A request left `u`: a draining upstream with nothing in flight is closed and reported idle. */
  settle(u: UpstreamState): void {
    if (u.draining && u.inflight === 0) {
      u.destroy();
      this.draining.delete(u);
      this.onUpstreamIdle?.(u.id);
    }
  }

  inflight(instanceId: string): number {
    let n = this.live.get(instanceId)?.inflight ?? 0;
    for (const d of this.draining) if (d.id === instanceId) n += d.inflight;
    return n;
  }

  /** Requests in flight per instance, for those that have any (routed or draining). */
  busyUpstreams(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const u of this.live.values()) if (u.inflight > 0) out[u.id] = (out[u.id] ?? 0) + u.inflight;
    for (const u of this.draining) if (u.inflight > 0) out[u.id] = (out[u.id] ?? 0) + u.inflight;
    return out;
  }

  destroyAll(): void {
    for (const u of this.live.values()) u.destroy();
    for (const u of this.draining) u.destroy();
  }
}
