// One control-plane node of several on one PostgreSQL (`summon up --store postgres://…`): its
// row in cluster_nodes (renewed every heartbeatMs with its data plane's per-app stats), the
// leader lease (lease.ts), the routes the leader publishes for every node's data plane, and
// what followers learn from the database: LISTEN/NOTIFY on summon_routes (an app's route
// changed), summon_wake (a follower's data plane holds a request for an app at zero) and
// summon_leader (a node took the lease), with a poll every pollMs as the fallback when a
// notification is missed (the listening connection dropped, or the database restarted).
import pg from 'pg';
import { Kysely, PostgresDialect, sql } from 'kysely';
import type { Database } from '../store/schema.js';
import { silentLogger, type Logger } from '../logging/logger.js';
import { Lease, readLease, type LeaseState } from './lease.js';
import { fenced } from './fenced-store.js';

export type PublishedRoute =
  | { kind: 'serving'; upstreams: { id: string; address: string; port: number }[] }
  | { kind: 'no-release' };

export interface RouteTarget {
  setRoute(app: string, route: PublishedRoute): void;
  deleteRoute(app: string): void;
}

export interface AppStat {
  inflight: number;
  held: number;
  lastRequestAt: number | null;
}

export interface NodeRow {
  id: string;
  apiUrl: string;
  routerUrl: string;
  agentUrl: string | null;
  version: string;
  startedAt: number;
  seenAt: number;
  /** Seconds since it was last seen, by the database's clock. */
  ageMs: number;
  stats: Record<string, AppStat>;
}

export interface ClusterNodeOptions {
  url: string;
  node: string;
  version: string;
  lease?: { ttlMs?: number; renewMs?: number; marginMs?: number };
  heartbeatMs?: number;
  pollMs?: number;
  logger?: Logger;
}

export const DEFAULT_CLUSTER = { heartbeatMs: 1000, pollMs: 2000 };

export class ClusterNode {
  readonly node: string;
  readonly pool: pg.Pool;
  readonly db: Kysely<Database>;
  readonly lease: Lease;
  private readonly log: Logger;
  private listener: pg.Client | null = null;
  private listenRetry: NodeJS.Timeout | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private poll: NodeJS.Timeout | null = null;
  private closed = false;
  private row: { apiUrl: string; routerUrl: string; agentUrl: string | null } | null = null;
  private statsOf: () => Record<string, AppStat> = () => ({});
  private routeTarget: RouteTarget | null = null;
  private readonly applied = new Map<string, string>();
  private readonly wakeHandlers: ((app: string) => void)[] = [];
  private leaderInfo: { node: string; apiUrl: string | null; epoch: number; since: number } | null = null;
  private peersCache: NodeRow[] = [];
  private readonly startedAt = Date.now();

  constructor(private readonly opts: ClusterNodeOptions) {
    this.node = opts.node;
    this.log = opts.logger ?? silentLogger();
    this.pool = new pg.Pool({ connectionString: opts.url, max: 6, connectionTimeoutMillis: 5000 });
    this.pool.on('error', () => {});
    this.db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: this.pool }) });
    this.lease = new Lease({
      pool: this.pool, node: opts.node, ...opts.lease,
      onAcquired: (s) => {
        this.log.info({ epoch: s.epoch }, 'took the leader lease');
        void this.pool.query(`select pg_notify('summon_leader', $1)`, [this.node]).catch(() => undefined);
        this.acquired?.(s);
      },
      onLost: (why) => {
        this.log.error({ why }, 'lost the leader lease');
        this.lost?.(why);
      },
      onError: (err) => this.log.warn({ err }, 'leader lease not renewed'),
    });
  }

  acquired: ((s: LeaseState) => void) | null = null;
  lost: ((why: string) => void) | null = null;

  /** This node's row, then heartbeats, notifications and the poll. The lease is started apart
   *  (startLease), once the node can lead. */
  async register(row: { apiUrl: string; routerUrl: string; agentUrl: string | null }, stats: () => Record<string, AppStat>): Promise<void> {
    this.row = row;
    this.statsOf = stats;
    await this.pool.query(
      `insert into cluster_nodes (id, api_url, router_url, agent_url, version, started_at, seen_at, stats)
         values ($1, $2, $3, $4, $5, to_timestamp($6 / 1000.0), now(), '{}')
       on conflict (id) do update set api_url = $2, router_url = $3, agent_url = $4, version = $5,
         started_at = to_timestamp($6 / 1000.0), seen_at = now()`,
      [this.node, row.apiUrl, row.routerUrl, row.agentUrl, this.opts.version, this.startedAt]);
    await this.refresh();
    await this.listen();
    this.heartbeat = setInterval(() => void this.beat(), this.opts.heartbeatMs ?? DEFAULT_CLUSTER.heartbeatMs);
    this.poll = setInterval(() => void this.pollOnce(), this.opts.pollMs ?? DEFAULT_CLUSTER.pollMs);
  }

  startLease(): Promise<void> {
    return this.lease.start();
  }

  private async beat(): Promise<void> {
    try {
      await this.pool.query(`update cluster_nodes set seen_at = now(), stats = $2 where id = $1`, [this.node, JSON.stringify(this.statsOf())]);
      await this.refresh();
    } catch (err) {
      this.log.warn({ err }, 'cluster heartbeat not written');
    }
  }

  /** Reads the nodes and the lease (who leads, where its API is). */
  private async refresh(): Promise<void> {
    this.peersCache = await this.nodes();
    const l = await readLease(this.pool);
    if (!l || !l.valid) {
      this.leaderInfo = null;
      return;
    }
    const n = this.peersCache.find((p) => p.id === l.holder);
    this.leaderInfo = { node: l.holder, apiUrl: n?.apiUrl ?? null, epoch: l.epoch, since: l.since };
  }

  /** The leader as last read (heartbeat, summon_leader), null during a failover. */
  leader(): { node: string; apiUrl: string | null; epoch: number; since: number } | null {
    if (this.lease.isLeader()) {
      const s = this.lease.state()!;
      return { node: this.node, apiUrl: this.row?.apiUrl ?? null, epoch: s.epoch, since: s.since };
    }
    return this.leaderInfo;
  }

  /** The nodes as last read (every heartbeat). */
  peers(): NodeRow[] {
    return this.peersCache;
  }

  async nodes(): Promise<NodeRow[]> {
    const r = await this.pool.query<{ id: string; api_url: string; router_url: string; agent_url: string | null; version: string; started_at: Date; seen_at: Date; age_ms: number; stats: Record<string, AppStat> }>(
      `select id, api_url, router_url, agent_url, version, started_at, seen_at, stats,
         (extract(epoch from (now() - seen_at)) * 1000)::float8 as age_ms from cluster_nodes order by id`);
    return r.rows.map((x) => ({
      id: x.id, apiUrl: x.api_url, routerUrl: x.router_url, agentUrl: x.agent_url, version: x.version,
      startedAt: x.started_at.getTime(), seenAt: x.seen_at.getTime(), ageMs: Number(x.age_ms), stats: x.stats ?? {},
    }));
  }

  // ---- notifications ------------------------------------------------------------------------

  private async listen(): Promise<void> {
    if (this.closed) return;
    const c = new pg.Client({ connectionString: this.opts.url, connectionTimeoutMillis: 5000 });
    const retry = () => {
      if (this.closed || this.listenRetry) return;
      this.listener = null;
      c.end().catch(() => undefined);
      this.listenRetry = setTimeout(() => {
        this.listenRetry = null;
        void this.listen();
      }, 1000);
    };
    c.on('error', (err) => {
      this.log.warn({ err }, 'cluster notifications lost: reconnecting (the poll covers the gap)');
      retry();
    });
    c.on('end', retry);
    c.on('notification', (n) => {
      if (n.channel === 'summon_routes' && n.payload) void this.loadRoutes(n.payload);
      else if (n.channel === 'summon_wake' && n.payload) for (const h of this.wakeHandlers) h(n.payload);
      else if (n.channel === 'summon_leader') void this.refresh().catch(() => undefined);
    });
    try {
      await c.connect();
      await c.query('listen summon_routes; listen summon_wake; listen summon_leader');
      this.listener = c;
      // What changed while not listening.
      await this.loadRoutes();
    } catch (err) {
      this.log.warn({ err }, 'cannot listen for cluster notifications: retrying (the poll covers the gap)');
      retry();
    }
  }

  private async pollOnce(): Promise<void> {
    try {
      await this.loadRoutes();
    } catch (err) {
      this.log.warn({ err }, 'routes not polled');
    }
  }

  /** Wake requests from followers' data planes (the leader's controller wakes the app). */
  onWake(h: (app: string) => void): void {
    this.wakeHandlers.push(h);
  }

  /** A follower's data plane holds a request for `app`: the leader is told. */
  async wake(app: string): Promise<void> {
    await this.pool.query(`select pg_notify('summon_wake', $1)`, [app]);
  }

  // ---- routes -------------------------------------------------------------------------------

  /** Followers: the data plane is kept to the published routes (now, and on every change). */
  async followRoutes(target: RouteTarget): Promise<void> {
    this.routeTarget = target;
    this.applied.clear();
    await this.loadRoutes();
  }

  /** The leader sets routes itself: following stops. */
  unfollowRoutes(): void {
    this.routeTarget = null;
  }

  private async loadRoutes(app?: string): Promise<void> {
    const target = this.routeTarget;
    if (!target) return;
    const r = app === undefined
      ? await this.pool.query<{ app: string; route: PublishedRoute | null }>('select app, route from cluster_routes')
      : await this.pool.query<{ app: string; route: PublishedRoute | null }>('select app, route from cluster_routes where app = $1', [app]);
    if (this.routeTarget !== target) return;
    const seen = new Set<string>();
    for (const row of r.rows) {
      seen.add(row.app);
      const text = JSON.stringify(row.route);
      if (this.applied.get(row.app) === text) continue;
      this.applied.set(row.app, text);
      if (row.route) target.setRoute(row.app, row.route);
      else target.deleteRoute(row.app);
    }
    const gone = app === undefined ? [...this.applied.keys()].filter((a) => !seen.has(a)) : (seen.has(app) ? [] : [app]);
    for (const a of gone) {
      if (!this.applied.has(a)) continue;
      this.applied.delete(a);
      target.deleteRoute(a);
    }
  }

  /** The apps whose routes this follower applied. */
  followedApps(): string[] {
    return [...this.applied.keys()];
  }

  /** The leader publishes an app's route (null: the app is gone), fenced, with its notification
   *  sent when the write commits. */
  async publishRoute(app: string, route: PublishedRoute | null): Promise<void> {
    await fenced(this.db, this.node, () => this.lease.epoch(), async (trx) => {
      await sql`insert into cluster_routes (app, route, epoch, updated_at) values (${app}, ${route === null ? null : JSON.stringify(route)}::jsonb, ${this.lease.epoch()}, now())
        on conflict (app) do update set route = excluded.route, epoch = excluded.epoch, updated_at = now()`.execute(trx);
      await sql`select pg_notify('summon_routes', ${app})`.execute(trx);
    });
  }

  // ---- pushes -------------------------------------------------------------------------------

  /** Holds the app's row in push_locks FOR UPDATE on a connection of its own until release():
   *  a push to the same app on any node waits for it. The lock goes with the connection if this
   *  node dies. */
  async lockApp(app: string): Promise<() => Promise<void>> {
    const c = await this.pool.connect();
    try {
      await c.query('insert into push_locks (app) values ($1) on conflict do nothing', [app]);
      await c.query('begin');
      await c.query('select app from push_locks where app = $1 for update', [app]);
    } catch (e) {
      c.release(true);
      throw e;
    }
    let done = false;
    return async () => {
      if (done) return;
      done = true;
      try {
        await c.query('commit');
        c.release();
      } catch {
        c.release(true);
      }
    };
  }

  async close(o: { releaseLease?: boolean } = {}): Promise<void> {
    this.closed = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.poll) clearInterval(this.poll);
    if (this.listenRetry) clearTimeout(this.listenRetry);
    this.routeTarget = null;
    await this.lease.stop({ release: o.releaseLease ?? true });
    await this.listener?.end().catch(() => undefined);
    await this.db.destroy().catch(() => undefined);
  }
}
