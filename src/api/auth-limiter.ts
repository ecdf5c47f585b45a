// Failed authentication, limited per client address (an IPv6 client: its /64) with a token
// bucket: `burst` failures at once, refilled at `burst` per `windowMs`. Once an address's
// bucket is empty, its requests get 429 with Retry-After and no token of theirs is checked
// until a failure's worth has refilled: guessing is slowed to that rate, whatever the token.
// Successful requests take nothing from the bucket.
import { addressKey } from '../router/client-limits.js';

export interface AuthLimiterOptions {
  /** Failures allowed at once from one address (default 10). */
  burst?: number;
  /** The time in which a full bucket refills (default 60 s). */
  windowMs?: number;
  /** Addresses tracked at most; past it, the ones back to a full bucket (then the oldest) are forgotten. */
  maxAddresses?: number;
  now?: () => number;
}

interface Bucket {
  left: number;
  at: number;
}

export class AuthLimiter {
  readonly burst: number;
  readonly windowMs: number;
  private readonly maxAddresses: number;
  private readonly now: () => number;
  private readonly buckets = new Map<string, Bucket>();

  constructor(o: AuthLimiterOptions = {}) {
    this.burst = o.burst ?? 10;
    this.windowMs = o.windowMs ?? 60_000;
    this.maxAddresses = o.maxAddresses ?? 10_000;
    this.now = o.now ?? Date.now;
    if (!Number.isInteger(this.burst) || this.burst < 1) throw new Error(`AuthLimiter: burst must be a whole number ≥ 1, got ${String(o.burst)}`);
    if (!(this.windowMs >= 1000)) throw new Error(`AuthLimiter: windowMs must be at least 1000, got ${String(o.windowMs)}`);
  }

  /** Seconds until `address` may try a token again, or 0 when it may now. */
  retryAfter(address: string): number {
    const b = this.refilled(addressKey(address));
    if (!b || b.left >= 1) return 0;
    return Math.max(1, Math.ceil(((1 - b.left) * this.windowMs) / this.burst / 1000));
  }

  /** Counts a failed authentication from `address`. */
  failed(address: string): void {
    const key = addressKey(address);
    const b = this.refilled(key) ?? { left: this.burst, at: this.now() };
    b.left = Math.max(0, b.left - 1);
    this.buckets.delete(key); // re-inserted: the Map's order is then least recently failed first
    this.buckets.set(key, b);
    if (this.buckets.size > this.maxAddresses) this.prune();
  }

  /** Addresses tracked now (for tests and the memory bound). */
  size(): number {
    return this.buckets.size;
  }

  private refilled(key: string): Bucket | undefined {
    const b = this.buckets.get(key);
    if (!b) return undefined;
    const t = this.now();
    b.left = Math.min(this.burst, b.left + ((t - b.at) * this.burst) / this.windowMs);
    b.at = t;
    return b;
  }

  private prune(): void {
    for (const key of [...this.buckets.keys()]) {
      const b = this.refilled(key)!;
      if (b.left >= this.burst) this.buckets.delete(key);
    }
    for (const key of this.buckets.keys()) {
      if (this.buckets.size <= this.maxAddresses) break;
      this.buckets.delete(key);
    }
  }
}
