// One uPlot line chart of a series field over the last hour, with its latest value.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import type { SeriesPoint } from '../../sdk/client.js';
import { html } from '../html.js';
import { HOUR_MS } from '../format.js';

export interface ChartProps {
  title: string;
  testid: string;
  points: SeriesPoint[];
  pick: (p: SeriesPoint) => number | null;
  unit: string;
  digits?: number;
  scale?: uPlot.Scale;
}

export function Chart({ title, testid, points, pick, unit, digits = 1, scale }: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const now = Date.now();
  const recent = points.filter((p) => p.at >= now - HOUR_MS);
  const xs = recent.map((p) => p.at / 1000);
  const ys = recent.map((p) => { const v = pick(p); return v === null || v === undefined ? null : v; });
  const last = [...ys].reverse().find((v) => v !== null);

  useEffect(() => {
    if (!box.current) return undefined;
    const el = box.current;
    const width = Math.max(200, el.clientWidth);
    const opts: uPlot.Options = {
      width, height: 150,
      legend: { show: false },
      cursor: { y: false },
      scales: { x: { time: true }, y: scale ?? { range: (_u, min, max) => [Math.min(0, min ?? 0), Math.max(1, (max ?? 1) * 1.15)] } },
      axes: [
        { stroke: '#656d76', grid: { stroke: '#eef0f3' }, ticks: { stroke: '#e3e6ea' }, size: 28 },
        { stroke: '#656d76', grid: { stroke: '#eef0f3' }, ticks: { stroke: '#e3e6ea' }, size: 44, values: (_u, vals) => vals.map((v) => `${+v.toFixed(2)}`) },
      ],
      series: [{}, { stroke: '#2f6feb', width: 2, fill: 'rgba(47,111,235,0.08)', spanGaps: true, points: { show: false } }],
    };
    plot.current = new uPlot(opts, [[], []], el);
    const ro = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(200, el.clientWidth), height: 150 }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, []);
  useEffect(() => {
    plot.current?.setData([xs, ys]);
  }, [points]);

  return html`
    <div class="chart" data-testid=${testid} data-points=${recent.length} data-last=${last ?? ''}>
      <div class="title"><span>${title}</span><b data-testid=${`${testid}-value`}>${last === undefined || last === null ? '–' : `${last.toFixed(digits)}${unit}`}</b></div>
      <div ref=${box}></div>
    </div>`;
}
