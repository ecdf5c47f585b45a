// The router's metrics as Prometheus families, read from one router snapshot per scrape. The
// counts themselves stay in the router (src/router/metrics.ts), incremented on the request
// path as plain numbers; see read-through-metric.ts for why.
import type { Registry } from 'prom-client';
import type { AppMetricsSnapshot, RouterMetrics } from '../router/metrics.js';
import { histogramSamples, ReadThroughMetric, type Sample } from './read-through-metric.js';

export interface RouterSource {
  metrics(): RouterMetrics;
  /** Requests in flight and held right now. */
  appStats(app: string): { inflight: number; held: number };
}

type PerApp = (app: string, m: AppMetricsSnapshot) => number;

const COUNTERS: [name: string, help: string, get: PerApp][] = [
  ['summon_router_retries_total', 'Requests retried on another instance.', (_, m) => m.retries],
  ['summon_router_upstream_errors_total', 'Upstream connection failures.', (_, m) => m.upstreamErrors],
  ['summon_router_upstream_timeouts_total', 'Requests answered 504 because the instance sent no response headers in time.', (_, m) => m.timeouts],
  ['summon_router_held_total', 'Requests held while an instance was woken or replaced.', (_, m) => m.held],
  ['summon_router_hold_timeouts_total', 'Held requests answered 503 because no instance became healthy in time.', (_, m) => m.holdTimeouts],
  ['summon_router_rejected_total', 'Requests refused because the hold queue was full.', (_, m) => m.rejected],
  ['summon_cold_starts_total', 'Wake-ups of an app with no instance.', (_, m) => m.wakes],
];

/** Registers the router's families on `registry`. */
export function registerRouterMetrics(registry: Registry, router: RouterSource): void {
  // Every family of one scrape reads the same snapshot, so requests_total and the latency
  // histogram's _count agree. The Registry calls each get() in the same synchronous pass, so
  // the snapshot is dropped on the next microtask, before the next scrape can begin.
  let snap: RouterMetrics | null = null;
  const current = (): RouterMetrics => {
    if (!snap) {
      snap = router.metrics();
      queueMicrotask(() => (snap = null));
    }
    return snap;
  };
  const perApp = (get: PerApp) => (): Sample[] => Object.entries(current().apps).map(([app, m]) => ({ labels: { app }, value: get(app, m) }));

  new ReadThroughMetric('summon_http_requests_total', 'Requests through the router by app and status class.', 'counter', () => {
    const out: Sample[] = [];
    for (const [app, m] of Object.entries(current().apps)) {
      for (const [status, n] of Object.entries(m.requests)) out.push({ labels: { app, status }, value: n });
    }
    return out;
  }).registerOn(registry);
  new ReadThroughMetric('summon_http_request_duration_seconds', 'Router request latency by app, from the request reaching the router to the end of its response.', 'histogram',
    () => Object.entries(current().apps).flatMap(([app, m]) => histogramSamples('summon_http_request_duration_seconds', { app }, m.latency))).registerOn(registry);
  new ReadThroughMetric('summon_router_unrouted_requests_total', 'Requests whose Host named no app.', 'counter',
    () => [{ labels: {}, value: current().unrouted }]).registerOn(registry);
  for (const [name, help, get] of COUNTERS) new ReadThroughMetric(name, help, 'counter', perApp(get)).registerOn(registry);
  new ReadThroughMetric('summon_wake_latency_seconds', 'Time from a held request to a healthy instance.', 'histogram',
    () => Object.entries(current().apps).flatMap(([app, m]) => histogramSamples('summon_wake_latency_seconds', { app }, m.wakeLatency))).registerOn(registry);
  new ReadThroughMetric('summon_router_held_requests', 'Requests held right now, waiting for a healthy instance.', 'gauge',
    perApp((app) => router.appStats(app).held)).registerOn(registry);
  new ReadThroughMetric('summon_router_inflight_requests', 'Requests being forwarded to an instance right now.', 'gauge',
    perApp((app) => router.appStats(app).inflight)).registerOn(registry);
}
