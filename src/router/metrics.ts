// Per-app request counters, kept as plain numbers and preallocated arrays so the
// request path only increments. Snapshots copy.

/** Latency bucket upper bounds in seconds (Prometheus-style defaults, finer at the low end). */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Wake latency bucket bounds in seconds: a process boots in ms, a VM in seconds. */
export const WAKE_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30];
const WAKE_SAMPLES = 64;

export interface HistogramSnapshot {
  /** Upper bounds in seconds; `counts` has one more entry, the +Inf bucket. Counts are per bucket, not cumulative. */
  bounds: number[];
  counts: number[];
  /** Sum of observations in seconds. */
  sum: number;
  count: number;
}

export interface AppMetricsSnapshot {
  requests: { '1xx': number; '2xx': number; '3xx': number; '4xx': number; '5xx': number };
  latency: HistogramSnapshot;
  retries: number;
  upstreamErrors: number;
  /** Requests that were ever held (wake or retry). */
  held: number;
  /** Requests refused because the hold queue was full. */
  rejected: number;
  /** Held requests that waited past maxWaitMs. */
  holdTimeouts: number;
  /** Upstream response-header timeouts (504). */
  timeouts: number;
  wakes: number;
  wakeLatency: HistogramSnapshot & { samplesMs: number[] };
}

export interface RouterMetrics {
  apps: Record<string, AppMetricsSnapshot>;
  /** Requests whose Host named no app (unknown domain, unknown app, no Host). */
  unrouted: number;
}

export class Histogram {
  readonly bounds: number[];
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(bounds: number[]) {
    this.bounds = bounds;
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }
  observe(seconds: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && seconds > b[i]) i++;
    this.counts[i]++;
    this.sum += seconds;
    this.count++;
  }
  snapshot(): HistogramSnapshot {
    return { bounds: this.bounds.slice(), counts: this.counts.slice(), sum: this.sum, count: this.count };
  }
}

export class AppMetrics {
  // index = status / 100 - 1
  readonly statusClasses = [0, 0, 0, 0, 0];
  readonly latency = new Histogram(LATENCY_BUCKETS);
  retries = 0;
  upstreamErrors = 0;
  held = 0;
  rejected = 0;
  holdTimeouts = 0;
  timeouts = 0;
  wakes = 0;
  readonly wakeLatency = new Histogram(WAKE_BUCKETS);
  private readonly wakeSamples: number[] = [];
  private wakeNext = 0;

  /** Whether any request has been answered (any status). */
  answered(): boolean {
    const c = this.statusClasses;
    return c[0] + c[1] + c[2] + c[3] + c[4] > 0;
  }

  status(code: number, seconds: number): void {
    const c = (code / 100) | 0;
    if (c >= 1 && c <= 5) this.statusClasses[c - 1]++;
    this.latency.observe(seconds);
  }

  wake(ms: number): void {
    this.wakeLatency.observe(ms / 1000);
    if (this.wakeSamples.length < WAKE_SAMPLES) this.wakeSamples.push(ms);
    else this.wakeSamples[this.wakeNext] = ms;
    this.wakeNext = (this.wakeNext + 1) % WAKE_SAMPLES;
  }

  /** Changes whenever any counter does (for sending on only the apps that had traffic). */
  mark(): number {
    return this.latency.count + this.retries + this.upstreamErrors + this.held + this.rejected + this.holdTimeouts + this.timeouts + this.wakes + this.wakeLatency.count;
  }

  snapshot(): AppMetricsSnapshot {
    const s = this.statusClasses;
    // samples in arrival order, oldest first
    const samples =
      this.wakeSamples.length < WAKE_SAMPLES
        ? this.wakeSamples.slice()
        : [...this.wakeSamples.slice(this.wakeNext), ...this.wakeSamples.slice(0, this.wakeNext)];
    return {
      requests: { '1xx': s[0], '2xx': s[1], '3xx': s[2], '4xx': s[3], '5xx': s[4] },
      latency: this.latency.snapshot(),
      retries: this.retries,
      upstreamErrors: this.upstreamErrors,
      held: this.held,
      rejected: this.rejected,
      holdTimeouts: this.holdTimeouts,
      timeouts: this.timeouts,
      wakes: this.wakes,
      wakeLatency: { ...this.wakeLatency.snapshot(), samplesMs: samples },
    };
  }
}
