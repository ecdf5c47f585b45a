// The leader lease: one row in PostgreSQL (cluster_lease) naming the node that runs the
// reconcile loops, with an epoch that goes up by one each time another node takes it.
//
// Timing (DEFAULT_LEASE): the holder renews every renewMs (1 s) for ttlMs (3 s) from the
// database's clock (now()), so nodes' clocks never matter to who leads. A node that is not the
// holder tries every renewMs and takes the lease once expires_at has passed: a leader killed
// with SIGKILL is replaced within ttlMs + renewMs (4 s) plus the new leader's start. A holder
// that cannot renew stops counting itself leader at sentAt + ttlMs - marginMs of its own
// monotonic clock (sentAt: when it sent the renewal that last succeeded), before the row can
// expire in the database.
//
// Fencing: that local deadline makes a second leader unlikely, not impossible (a process
// paused between its check and its write). What makes it impossible is fence(): every write of
// the reconcile loops runs in a transaction that first reads the lease row FOR SHARE and
// requires holder = this node, epoch = the epoch it took, and expires_at > now(). A node that
// takes the lease updates that row, so it waits for such a transaction to commit, and after it
// has, the check fails: a deposed leader's write is refused (FencedError), never interleaved.
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import { SummonError } from '../core/errors.js';

export const DEFAULT_LEASE = { ttlMs: 3000, renewMs: 1000, marginMs: 500 };

export class FencedError extends SummonError {
  constructor(node: string, epoch: number) {
    super('conflict', `node ${node} no longer holds the leader lease (epoch ${epoch}): write refused`, { node, epoch });
    this.name = 'FencedError';
  }
}

export interface LeaseState {
  holder: string;
  epoch: number;
  since: number;
  expiresAt: number;
}

export interface Queryable {
  query<R extends pg.QueryResultRow = any>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

export interface LeaseOptions {
  pool: Queryable;
  node: string;
  ttlMs?: number;
  renewMs?: number;
  marginMs?: number;
  /** This node took the lease (epoch: the fence its writes carry). */
  onAcquired?: (s: LeaseState) => void;
  /** This node held the lease and no longer does (another took it, or it could not renew in time). */
  onLost?: (why: string) => void;
  /** A renewal attempt failed (database unreachable): logged by the caller. */
  onError?: (err: unknown) => void;
}

/** Takes or renews the lease in one statement; the row as it is after, when this node holds it. */
export async function tryLease(db: Queryable, node: string, heldEpoch: number, ttlMs: number): Promise<LeaseState | null> {
  const r = await db.query<{ holder: string; epoch: string; since: Date; expires_at: Date }>(
    `insert into cluster_lease (name, holder, epoch, since, expires_at)
       values ('leader', $1, 1, now(), now() + $3 * interval '1 millisecond')
     on conflict (name) do update set
       epoch = case when cluster_lease.holder = $1 and cluster_lease.epoch = $2 then cluster_lease.epoch else cluster_lease.epoch + 1 end,
       since = case when cluster_lease.holder = $1 and cluster_lease.epoch = $2 then cluster_lease.since else now() end,
       holder = $1,
       expires_at = now() + $3 * interval '1 millisecond'
     where (cluster_lease.holder = $1 and cluster_lease.epoch = $2) or cluster_lease.expires_at < now()
     returning holder, epoch, since, expires_at`,
    [node, heldEpoch, ttlMs],
  );
  const row = r.rows[0];
  return row ? { holder: row.holder, epoch: Number(row.epoch), since: row.since.getTime(), expiresAt: row.expires_at.getTime() } : null;
}

/** Who holds the lease now (null: nobody ever took it). */
export async function readLease(db: Queryable): Promise<(LeaseState & { valid: boolean }) | null> {
  const r = await db.query<{ holder: string; epoch: string; since: Date; expires_at: Date; valid: boolean }>(
    `select holder, epoch, since, expires_at, expires_at > now() as valid from cluster_lease where name = 'leader'`);
  const row = r.rows[0];
  return row ? { holder: row.holder, epoch: Number(row.epoch), since: row.since.getTime(), expiresAt: row.expires_at.getTime(), valid: row.valid } : null;
}

/** The fence: in the caller's transaction, before its writes. Throws FencedError unless `node`
 *  still holds the lease at `epoch`; the row stays share-locked until the transaction ends. */
export async function fence(trx: Queryable, node: string, epoch: number): Promise<void> {
  const r = await trx.query(
    `select 1 from cluster_lease where name = 'leader' and holder = $1 and epoch = $2 and expires_at > now() for share`,
    [node, epoch]);
  if (r.rows.length === 0) throw new FencedError(node, epoch);
}

export class Lease {
  private readonly ttlMs: number;
  private readonly renewMs: number;
  private readonly marginMs: number;
  private timer: NodeJS.Timeout | null = null;
  private held: LeaseState | null = null;
  /** The epoch this node held last (0: never), for the refusal's message. */
  private lastEpoch = 0;
  /** Monotonic time until which this node counts itself leader. */
  private validUntil = 0;
  private stopped = false;
  private running: Promise<void> = Promise.resolve();

  constructor(private readonly opts: LeaseOptions) {
    this.ttlMs = opts.ttlMs ?? DEFAULT_LEASE.ttlMs;
    this.renewMs = opts.renewMs ?? DEFAULT_LEASE.renewMs;
    this.marginMs = opts.marginMs ?? DEFAULT_LEASE.marginMs;
    if (!(this.renewMs > 0 && this.marginMs >= 0 && this.ttlMs > this.renewMs + this.marginMs)) {
      throw new Error(`lease: ttl (${this.ttlMs} ms) must exceed renew (${this.renewMs} ms) + margin (${this.marginMs} ms)`);
    }
  }

  get node(): string {
    return this.opts.node;
  }

  /** The lease this node holds now, or null. */
  state(): LeaseState | null {
    if (this.held && performance.now() >= this.validUntil) this.lose('the lease could not be renewed in time');
    return this.held;
  }

  isLeader(): boolean {
    return this.state() !== null;
  }

  /** The epoch this node's writes are fenced with (throws when it does not lead). */
  epoch(): number {
    const s = this.state();
    if (!s) throw new FencedError(this.opts.node, this.lastEpoch);
    return s.epoch;
  }

  /** One attempt now, then one every renewMs. */
  async start(): Promise<void> {
    await this.attempt();
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.attempt().finally(() => this.schedule());
    }, this.renewMs);
  }

  private async attempt(): Promise<void> {
    const sentAt = performance.now();
    let got: LeaseState | null;
    try {
      got = await tryLease(this.opts.pool, this.opts.node, this.held?.epoch ?? 0, this.ttlMs);
    } catch (err) {
      this.opts.onError?.(err);
      this.state(); // loses it once the local deadline has passed
      return;
    }
    if (this.stopped) return;
    if (got) {
      const fresh = this.held === null;
      this.held = got;
      this.lastEpoch = got.epoch;
      this.validUntil = sentAt + this.ttlMs - this.marginMs;
      if (fresh) this.opts.onAcquired?.(got);
    } else if (this.held) {
      this.lose('another node holds the lease');
    }
  }

  private lose(why: string): void {
    if (!this.held) return;
    this.held = null;
    this.validUntil = 0;
    this.opts.onLost?.(why);
  }

  /** Stops renewing; with release, gives the lease up at once so another node need not wait
   *  for it to expire (a clean stop of the leader). */
  async stop(o: { release?: boolean } = {}): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running.catch(() => undefined);
    const held = this.held;
    this.held = null;
    if (o.release && held) {
      await this.opts.pool.query(
        `update cluster_lease set expires_at = now() where name = 'leader' and holder = $1 and epoch = $2`,
        [this.opts.node, held.epoch]).catch((err: unknown) => this.opts.onError?.(err));
    }
  }
}
