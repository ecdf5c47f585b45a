// Wakes on lookup, bounded: a DNS flood (spoofed UDP costs its sender nothing) must not make
// the controller work harder than one wake per app at a time. Per app, a wake is passed on
// only when none is in flight (an async hook's promise has not settled) and at least
// `intervalMs` has passed since the last one began; the rest are dropped, not queued — the
// wake already under way boots the app for them too.

export interface WakeLimiterOptions {
  wake: (app: string) => unknown;
  /** Least time between two wakes of one app. */
  intervalMs: number;
  /** Monotonic milliseconds. */
  now: () => number;
  onError: (app: string, error: unknown) => void;
  /** Apps tracked at once; past it, entries older than the interval are forgotten first. */
  maxApps?: number;
}

interface Entry {
  at: number;
  inFlight: boolean;
}

/** An in-flight wake older than this no longer holds back the next: a hook that never settles must not disable waking. */
const IN_FLIGHT_LIMIT_MS = 30_000;
const DEFAULT_MAX_APPS = 65_536;

export class WakeLimiter {
  private readonly entries = new Map<string, Entry>();
  private readonly maxApps: number;

  constructor(private readonly o: WakeLimiterOptions) {
    this.maxApps = o.maxApps ?? DEFAULT_MAX_APPS;
  }

  /** Wakes `app` unless a wake of it is in flight or too recent. True when the hook was called. */
  request(app: string): boolean {
    const now = this.o.now();
    const prev = this.entries.get(app);
    if (prev && !this.expired(prev, now)) return false;
    if (!prev && this.entries.size >= this.maxApps) {
      for (const [k, e] of this.entries) if (this.expired(e, now)) this.entries.delete(k);
      // Still full: every tracked app was woken within the interval. Dropping this wake keeps
      // the bound; the app's next lookup after the interval wakes it.
      if (this.entries.size >= this.maxApps) return false;
    }
    const entry: Entry = { at: now, inFlight: false };
    this.entries.set(app, entry);
    try {
      const r: unknown = this.o.wake(app);
      if (r && typeof (r as Promise<unknown>).then === 'function') {
        entry.inFlight = true;
        (r as Promise<unknown>).then(
          () => (entry.inFlight = false),
          (e: unknown) => {
            entry.inFlight = false;
            this.o.onError(app, e);
          },
        );
      }
    } catch (e) {
      this.o.onError(app, e);
    }
    return true;
  }

  private expired(e: Entry, now: number): boolean {
    const age = now - e.at;
    return e.inFlight ? age >= IN_FLIGHT_LIMIT_MS : age >= this.o.intervalMs;
  }
}
