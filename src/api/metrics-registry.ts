// GET /metrics: one prom-client Registry per Summon (never prom-client's global one, so two
// Summons in one process keep their own counts), holding the router's families, gauges of
// the controller's instances and the hosts, counters and histograms from events, and
// prom-client's process metrics, all prefixed summon_.
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { Instance, SummonEvent } from '../core/types.js';
import { EventMetrics } from './event-metrics.js';
import { registerRouterMetrics, type RouterSource } from './router-collector.js';

export interface SummonMetricsOptions {
  router: RouterSource;
  instances: () => Instance[];
  hosts: () => { id: string; up: boolean }[];
  /** prom-client's default process and Node.js metrics (default true). */
  processMetrics?: boolean;
}

/** prom-client's gauges that are sums of a labelled gauge beside them (summon_nodejs_active_handles
 *  by type…); promtool refuses a gauge named _total, and the sum is one PromQL sum() away. */
const REDUNDANT_DEFAULTS = ['summon_nodejs_active_handles_total', 'summon_nodejs_active_requests_total', 'summon_nodejs_active_resources_total'];

export class SummonMetrics {
  readonly registry = new Registry();
  private readonly events: EventMetrics;

  constructor(o: SummonMetricsOptions) {
    const registers = [this.registry];
    registerRouterMetrics(this.registry, o.router);
    new Gauge({
      name: 'summon_instances', help: 'Instances by app and state.', labelNames: ['app', 'state'], registers,
      collect() {
        this.reset();
        // reset() drops states that have no instance left; counting here keeps them out of Gauge.inc's label lookups.
        const byState = new Map<string, { app: string; state: string; n: number }>();
        for (const i of o.instances()) {
          const k = `${i.app}\u0000${i.state}`;
          let c = byState.get(k);
          if (!c) byState.set(k, (c = { app: i.app, state: i.state, n: 0 }));
          c.n += 1;
        }
        for (const c of byState.values()) this.set({ app: c.app, state: c.state }, c.n);
      },
    });
    new Gauge({
      name: 'summon_instance_cpu_cores', help: 'CPU of each instance, in cores.', labelNames: ['app', 'instance'], registers,
      collect() {
        this.reset();
        for (const i of o.instances()) if (i.cpu !== null) this.set({ app: i.app, instance: i.id }, i.cpu);
      },
    });
    new Gauge({
      name: 'summon_instance_memory_bytes', help: 'Resident memory of each instance.', labelNames: ['app', 'instance'], registers,
      collect() {
        this.reset();
        for (const i of o.instances()) if (i.memoryBytes !== null) this.set({ app: i.app, instance: i.id }, i.memoryBytes);
      },
    });
    new Gauge({
      name: 'summon_host_up', help: 'Whether the host\'s agent can be reached (1) or not (0); the agent of this process is always 1.',
      labelNames: ['host'], registers,
      collect() {
        this.reset();
        for (const h of o.hosts()) this.set({ host: h.id }, h.up ? 1 : 0);
      },
    });
    this.events = new EventMetrics(this.registry);
    if (o.processMetrics !== false) {
      // prom-client gives no way to stop what this starts (an event-loop delay monitor and a
      // GC observer); both are unref'd and cost nothing once this Summon is gone but memory.
      collectDefaultMetrics({ register: this.registry, prefix: 'summon_' });
      for (const name of REDUNDANT_DEFAULTS) this.registry.removeSingleMetric(name);
    }
  }

  /** Feed every recorded event (EventBus.subscribe). */
  observe(e: SummonEvent): void {
    this.events.observe(e);
  }

  /** The Prometheus text exposition (version 0.0.4). */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
