// Time series for the dashboard charts, sampled in memory: per app, every `intervalMs`
// (default 5 s), for `retainMs` (default 1 h): healthy instances, average CPU, requests per
// second and p95 latency. Rates and the percentile come from deltas of the router's
// cumulative counters between two samples. With a store, each sample's new points are
// written in one batch (none for an app at zero with no traffic) and load() reads the last
// hour back at start, so the charts outlive a restart of Summon.
import type { Instance } from '../core/types.js';
import type { HistogramSnapshot, RouterMetrics } from '../router/metrics.js';
import type { SeriesRow } from '../store/store.js';

export interface SeriesPoint {
  /** Sample time, epoch ms. */
  at: number;
  /** Healthy instances. */
  instances: number;
  /** All instances, whatever their state. */
  total: number;
  /** Average CPU of instances with a sample, in cores (1 = one core busy); null when none. */
  cpu: number | null;
  /** Requests per second since the previous sample (null on the first sample). */
  rps: number | null;
  /** p95 latency in ms of the requests since the previous sample (null when there were none). */
  p95Ms: number | null;
}

export interface SeriesRecorderOptions {
  instances: () => Instance[];
  metrics: () => RouterMetrics;
  intervalMs?: number;
  retainMs?: number;
  now?: () => number;
  /** Where points are kept across restarts (the Store's chart-point methods). */
  store?: {
    addSeriesPoints(points: SeriesRow[]): Promise<void>;
    listSeriesPoints(since: number): Promise<SeriesRow[]>;
    pruneSeriesPoints(before: number): Promise<number>;
  };
  /** A write to the store that failed (the points stay in memory). */
  onStoreError?: (err: unknown) => void;
}

/** Points older than the retention are deleted from the store at most this often. */
const PRUNE_EVERY_MS = 60_000;

interface AppSeries {
  points: SeriesPoint[];
  last: { at: number; requests: number; counts: number[] } | null;
}

/** The q-quantile (0..1) of a histogram given per-bucket counts, interpolating linearly within the bucket. */
export function histogramQuantile(q: number, bounds: number[], counts: number[]): number | null {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total <= 0) return null;
  const rank = q * total;
  let cum = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i];
    if (c > 0 && cum + c >= rank) {
      if (i >= bounds.length) return bounds[bounds.length - 1]; // +Inf bucket: the highest finite bound
      const lo = i === 0 ? 0 : bounds[i - 1];
      return lo + (bounds[i] - lo) * ((rank - cum) / c);
    }
    cum += c;
  }
  return bounds[bounds.length - 1];
}

function requestsOf(m: RouterMetrics['apps'][string] | undefined): number {
  if (!m) return 0;
  const r = m.requests;
  return r['1xx'] + r['2xx'] + r['3xx'] + r['4xx'] + r['5xx'];
}

export class SeriesRecorder {
  private readonly series = new Map<string, AppSeries>();
  private timer: NodeJS.Timeout | null = null;
  readonly intervalMs: number;
  private readonly retainMs: number;
  private readonly now: () => number;

  constructor(private readonly o: SeriesRecorderOptions) {
    this.intervalMs = o.intervalMs ?? 5000;
    this.retainMs = o.retainMs ?? 3_600_000;
    this.now = o.now ?? Date.now;
    if (!Number.isFinite(this.intervalMs) || this.intervalMs < 10) throw new Error(`series interval must be ≥ 10 ms, got ${String(o.intervalMs)}`);
    if (!Number.isFinite(this.retainMs) || this.retainMs < this.intervalMs) throw new Error('series retention must be at least one interval');
  }

  /** Writes to the store in order, one at a time; stop() waits for the last. */
  private writes: Promise<void> = Promise.resolve();
  private lastPruneAt = 0;

  /** Reads back the points of the last retainMs from the store (once, before start()). */
  async load(): Promise<number> {
    if (!this.o.store) return 0;
    const rows = await this.o.store.listSeriesPoints(this.now() - this.retainMs);
    for (const r of rows) {
      let s = this.series.get(r.app);
      if (!s) {
        // last stays null: the router's counters the next sample sees may have restarted
        s = { points: [], last: null };
        this.series.set(r.app, s);
      }
      s.points.push({ at: r.at, instances: r.instances, total: r.total, cpu: r.cpu, rps: r.rps, p95Ms: r.p95Ms });
    }
    return rows.length;
  }

  start(): void {
    if (this.timer) return;
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  /** Stops sampling; resolves once what was sampled is in the store. */
  stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    return this.writes;
  }

  private write(f: (store: NonNullable<SeriesRecorderOptions['store']>) => Promise<unknown>): void {
    const store = this.o.store;
    if (!store) return;
    this.writes = this.writes.then(() => f(store)).then(() => undefined, (err: unknown) => this.o.onStoreError?.(err));
  }

  /** Takes one sample of every app that has instances, router traffic, or a series already. */
  sample(): void {
    const at = this.now();
    const instances = this.o.instances();
    const metrics = this.o.metrics();
    const byApp = new Map<string, Instance[]>();
    for (const i of instances) {
      const list = byApp.get(i.app) ?? [];
      list.push(i);
      byApp.set(i.app, list);
    }
    const names = new Set([...this.series.keys(), ...byApp.keys(), ...Object.keys(metrics.apps)]);
    const added: SeriesRow[] = [];
    for (const app of names) {
      const list = byApp.get(app) ?? [];
      const m = metrics.apps[app];
      let s = this.series.get(app);
      // An app at zero with no traffic adds no points (a thousand idle apps must cost nothing):
      // one zero point marks the start of the quiet, the chart's gap shows the rest.
      if (list.length === 0 && (s ? s.last !== null && requestsOf(m) === s.last.requests && s.points.at(-1)?.total === 0 : requestsOf(m) === 0)) {
        if (s) this.prune(s, at);
        continue;
      }
      if (!s) {
        s = { points: [], last: null };
        this.series.set(app, s);
      }
      const requests = requestsOf(m);
      const counts = m ? m.latency.counts.slice() : [];
      let rps: number | null = null;
      let p95Ms: number | null = null;
      if (s.last && requests >= s.last.requests && at > s.last.at) {
        rps = ((requests - s.last.requests) * 1000) / (at - s.last.at);
        if (m) p95Ms = quantileOfDelta(m.latency, s.last.counts);
      }
      s.last = { at, requests, counts };
      const withCpu = list.filter((i) => i.cpu !== null && i.state !== 'stopped');
      const point: SeriesPoint = {
        at,
        instances: list.filter((i) => i.state === 'healthy').length,
        total: list.filter((i) => i.state !== 'stopped').length,
        cpu: withCpu.length ? withCpu.reduce((a, i) => a + (i.cpu ?? 0), 0) / withCpu.length : null,
        rps: rps === null ? null : Math.round(rps * 100) / 100,
        p95Ms: p95Ms === null ? null : Math.round(p95Ms * 1000) / 1000,
      };
      s.points.push(point);
      if (this.o.store) added.push({ app, ...point });
      this.prune(s, at);
    }
    if (added.length) this.write((st) => st.addSeriesPoints(added));
    if (at - this.lastPruneAt >= PRUNE_EVERY_MS) {
      this.lastPruneAt = at;
      this.write((st) => st.pruneSeriesPoints(at - this.retainMs));
    }
  }

  private prune(s: { points: { at: number }[] }, at: number): void {
    const oldest = at - this.retainMs;
    let drop = 0;
    while (drop < s.points.length && s.points[drop].at < oldest) drop++;
    if (drop) s.points.splice(0, drop);
  }

  get(app: string): SeriesPoint[] {
    return this.series.get(app)?.points.slice() ?? [];
  }

  forget(app: string): void {
    this.series.delete(app);
  }
}

function quantileOfDelta(h: HistogramSnapshot, before: number[]): number | null {
  const delta = h.counts.map((c, i) => Math.max(0, c - (before[i] ?? 0)));
  const q = histogramQuantile(0.95, h.bounds, delta);
  return q === null ? null : q * 1000;
}
