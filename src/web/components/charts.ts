// The app's charts: healthy instances, CPU, requests per second, p95 latency. The heading says
// the span its samples cover (up to the hour kept), not "the last hour" over four minutes.
import type { SeriesPoint, SummonClient } from '../../sdk/client.js';
import { html } from '../html.js';
import { HOUR_MS, POLL_MS, chartSpan } from '../format.js';
import { usePoll } from '../hooks.js';
import { Chart } from './chart.js';

export function Charts({ client, name }: { client: SummonClient; name: string }) {
  const { data } = usePoll(() => client.series(name), POLL_MS, [client, name]);
  const points = data ?? [];
  const now = Date.now();
  const recent = points.filter((p) => p.at >= now - HOUR_MS);
  return html`
    <div class="panel">
      <h2><span data-testid="chart-span" data-first=${recent.length ? Math.min(...recent.map((p) => p.at)) : ''} data-now=${now}>${chartSpan(points, now)}</span> <span class="sub" data-testid="chart-points">${recent.length} samples</span></h2>
      <div class="grid">
        <${Chart} title="Healthy instances" testid="chart-instances" points=${points} pick=${(p: SeriesPoint) => p.instances} unit="" digits=${0} />
        <${Chart} title="CPU (average per instance)" testid="chart-cpu" points=${points} pick=${(p: SeriesPoint) => (p.cpu === null ? null : p.cpu * 100)} unit="%" />
        <${Chart} title="Requests per second" testid="chart-rps" points=${points} pick=${(p: SeriesPoint) => p.rps} unit="/s" />
        <${Chart} title="p95 latency" testid="chart-p95" points=${points} pick=${(p: SeriesPoint) => p.p95Ms} unit=" ms" />
      </div>
    </div>`;
}
