// GET /metrics: the Prometheus text format, rendered from the router's counters and the
// controller's view of instances.
import type { Instance } from '../core/types.js';
import type { HistogramSnapshot, RouterMetrics } from '../router/router.js';

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Prometheus wants cumulative buckets; the router keeps per-bucket counts. */
function histogram(out: string[], name: string, app: string, h: HistogramSnapshot): void {
  let cum = 0;
  h.bounds.forEach((le, i) => {
    cum += h.counts[i];
    out.push(`${name}_bucket{app="${esc(app)}",le="${le}"} ${cum}`);
  });
  out.push(`${name}_bucket{app="${esc(app)}",le="+Inf"} ${h.count}`);
  out.push(`${name}_sum{app="${esc(app)}"} ${h.sum}`);
  out.push(`${name}_count{app="${esc(app)}"} ${h.count}`);
}

export function renderMetrics(router: RouterMetrics, instances: Instance[], extra: string[] = [], hosts: { id: string; up: boolean }[] = []): string {
  const out: string[] = [];
  const metric = (name: string, type: string, help: string) => out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);

  metric('summon_http_requests_total', 'counter', 'Requests through the router by app and status class.');
  for (const [app, m] of Object.entries(router.apps)) {
    for (const [cls, n] of Object.entries(m.requests)) out.push(`summon_http_requests_total{app="${esc(app)}",status="${cls}"} ${n}`);
  }
  metric('summon_http_request_duration_seconds', 'histogram', 'Router request latency by app.');
  for (const [app, m] of Object.entries(router.apps)) histogram(out, 'summon_http_request_duration_seconds', app, m.latency);
  const counters: [string, string, (m: RouterMetrics['apps'][string]) => number][] = [
    ['summon_router_retries_total', 'Requests retried on another instance.', (m) => m.retries],
    ['summon_router_upstream_errors_total', 'Upstream connection failures.', (m) => m.upstreamErrors],
    ['summon_router_held_total', 'Requests held while an instance was woken or replaced.', (m) => m.held],
    ['summon_router_rejected_total', 'Requests refused because the hold queue was full.', (m) => m.rejected],
    ['summon_cold_starts_total', 'Wake-ups of an app with no instance.', (m) => m.wakes],
  ];
  for (const [name, help, get] of counters) {
    metric(name, 'counter', help);
    for (const [app, m] of Object.entries(router.apps)) out.push(`${name}{app="${esc(app)}"} ${get(m)}`);
  }
  metric('summon_wake_latency_seconds', 'histogram', 'Time from a held request to a healthy instance.');
  for (const [app, m] of Object.entries(router.apps)) histogram(out, 'summon_wake_latency_seconds', app, m.wakeLatency);
  metric('summon_instances', 'gauge', 'Instances by app and state.');
  const byState = new Map<string, number>();
  for (const i of instances) byState.set(`${i.app}\u0000${i.state}`, (byState.get(`${i.app}\u0000${i.state}`) ?? 0) + 1);
  for (const [k, n] of byState) {
    const [app, state] = k.split('\u0000');
    out.push(`summon_instances{app="${esc(app)}",state="${state}"} ${n}`);
  }
  metric('summon_instance_cpu_cores', 'gauge', 'CPU of each instance, in cores.');
  for (const i of instances) if (i.cpu !== null) out.push(`summon_instance_cpu_cores{app="${esc(i.app)}",instance="${esc(i.id)}"} ${i.cpu}`);
  metric('summon_instance_memory_bytes', 'gauge', 'Resident memory of each instance.');
  for (const i of instances) if (i.memoryBytes !== null) out.push(`summon_instance_memory_bytes{app="${esc(i.app)}",instance="${esc(i.id)}"} ${i.memoryBytes}`);
  metric('summon_host_up', 'gauge', 'Whether the host\'s agent can be reached (1) or not (0); the agent of this process is always 1.');
  for (const h of hosts) out.push(`summon_host_up{host="${esc(h.id)}"} ${h.up ? 1 : 0}`);
  out.push(...extra);
  return `${out.join('\n')}\n`;
}
