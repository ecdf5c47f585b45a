// The app's charts: healthy instances, CPU, requests per second, p95 latency.
import type { SummonClient } from '../../sdk/client.js';
import { html } from '../html.js';
import { POLL_MS } from '../format.js';
import { usePoll } from '../hooks.js';
import { Chart } from './chart.js';

export function Charts({ client, name }: { client: SummonClient; name: string }) {
  const { data } = usePoll(() => client.series(name), POLL_MS, [client, name]);
  const points = data ?? [];
  return html`
    <div class="panel">
      <h2>Last hour <span class="sub" data-testid="chart-points">${points.length} samples</span></h2>
      <div class="grid">
        <${Chart} title="Healthy instances" testid="chart-instances" points=${points} pick=${(p: typeof points[number]) => p.instances} unit="" digits=${0} />
        <${Chart} title="CPU (average per instance)" testid="chart-cpu" points=${points} pick=${(p: typeof points[number]) => (p.cpu === null ? null : p.cpu * 100)} unit="%" />
        <${Chart} title="Requests per second" testid="chart-rps" points=${points} pick=${(p: typeof points[number]) => p.rps} unit="/s" />
        <${Chart} title="p95 latency" testid="chart-p95" points=${points} pick=${(p: typeof points[number]) => p.p95Ms} unit=" ms" />
      </div>
    </div>`;
}
