// A metric family for prom-client's Registry whose values are read when it is scraped, from
// counters kept elsewhere. The router's per-request counters and latency histograms stay plain
// numbers in src/router/metrics.ts: a prom-client child hashes its label set on every
// observation, ~50× the cost of the router's own increment (figures in docs/design.md), and
// prom-client has no public way to hand a Histogram counts kept outside it. The Registry
// renders any object with a name, help, type and get(), so these are exposed, escaped and
// linted like every other family.
import { validateMetricName, type Metric, type Registry } from 'prom-client';
import { InvalidInputError } from '../core/errors.js';
import type { HistogramSnapshot } from '../router/metrics.js';

export type Labels = Record<string, string | number>;

export interface Sample {
  labels: Labels;
  value: number;
  /** For histograms: NAME_bucket, NAME_sum or NAME_count. */
  metricName?: string;
}

export type FamilyType = 'counter' | 'gauge' | 'histogram';

export class ReadThroughMetric {
  readonly aggregator = 'sum' as const;

  constructor(readonly name: string, readonly help: string, readonly type: FamilyType, private readonly read: () => Sample[]) {
    if (!validateMetricName(name)) throw new InvalidInputError(`metric name ${JSON.stringify(name)} is not a valid Prometheus name`);
    if (type === 'counter' && !name.endsWith('_total')) throw new InvalidInputError(`counter ${name} must end in _total`);
    if (!help.trim()) throw new InvalidInputError(`metric ${name} needs a help text`);
  }

  async get(): Promise<{ name: string; help: string; type: FamilyType; aggregator: 'sum'; values: Sample[] }> {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.read() };
  }

  /** Registry.resetMetrics() calls this; the counts belong to whoever keeps them. */
  reset(): void {}

  registerOn(registry: Registry): this {
    // The Registry types only its own four classes, but reads nothing beyond what get() returns.
    registry.registerMetric(this as unknown as Metric);
    return this;
  }
}

/** Prometheus samples of one histogram: cumulative buckets (the router keeps per-bucket counts), +Inf, sum, count. */
export function histogramSamples(name: string, labels: Labels, h: HistogramSnapshot): Sample[] {
  const out: Sample[] = [];
  let cum = 0;
  for (let i = 0; i < h.bounds.length; i++) {
    cum += h.counts[i];
    out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: h.bounds[i] }, value: cum });
  }
  out.push(
    { metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: h.count },
    { metricName: `${name}_sum`, labels, value: h.sum },
    { metricName: `${name}_count`, labels, value: h.count },
  );
  return out;
}
