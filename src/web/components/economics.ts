// Instance-seconds and memory-seconds of the last 7 days (and the cost, with a price set), and
// the rightsizing advice from the last day's observations.
import type { SummonClient } from '../../sdk/client.js';
import { html } from '../html.js';
import { MIB, num } from '../format.js';
import { usePoll } from '../hooks.js';

export function Economics({ client, name }: { client: SummonClient; name: string }) {
  const usage = usePoll(() => client.usage({ app: name, since: '7d' }), 5000, [client, name]);
  const advice = usePoll(() => client.advice(name), 5000, [client, name]);
  const u = usage.data;
  const a = advice.data;
  const priced = u !== null && u.pricePerInstanceSecond !== null;
  const total = u?.totals[0];
  return html`
    <div class="panel" data-testid="economics">
      <h2>Usage and rightsizing <span class="sub">last 7 days${priced ? ` · ${u.pricePerInstanceSecond} per instance-second` : ''}</span></h2>
      ${!u ? html`<div class="empty">Loading…</div>` : u.days.length === 0 ? html`<div class="empty" data-testid="usage-none">No instance ran.</div>` : html`
        <div class="table-wrap"><table data-testid="usage-list">
          <thead><tr><th>Day (UTC)</th><th>Instance-seconds</th><th>Memory MiB·s</th>${priced && html`<th>Cost</th>`}</tr></thead>
          <tbody>
            ${u.days.map((d) => html`<tr key=${d.day} data-testid="usage-row" data-day=${d.day} data-seconds=${d.instanceSeconds}>
              <td>${d.day}</td><td>${num(d.instanceSeconds)}</td><td>${num(d.memoryMibSeconds)}</td>${priced && html`<td>${d.cost?.toFixed(6)}</td>`}</tr>`)}
            ${total && html`<tr data-testid="usage-total"><td><b>total</b></td><td><b>${num(total.instanceSeconds)}</b></td><td><b>${num(total.memoryMibSeconds)}</b></td>${priced && html`<td><b>${total.cost?.toFixed(6)}</b></td>`}</tr>`}
          </tbody>
        </table></div>
        <div class="sub">Memory-seconds: each running instance's [run].memory reservation × its seconds.</div>`}
      <h3>Rightsizing</h3>
      ${!a ? html`<div class="empty">Loading…</div>` : html`
        <div data-testid="advice" data-items=${a.items.length}>
          ${a.items.map((i) => html`<div class="advice" key=${i.key} data-testid="advice-item" data-key=${i.key} data-direction=${i.direction}>
            <b>${i.key === 'run.memory' ? `[run].memory ${(i.from / MIB).toFixed(0)}M → ${(i.to / MIB).toFixed(0)}M` : `[scale].min ${i.from} → ${i.to}`}</b>: ${i.reason}</div>`)}
          ${a.note && html`<div class="sub" data-testid="advice-note">${a.note}</div>`}
          <div class="sub" data-testid="advice-observed">observed ${Math.round(a.observed.windowMs / 60_000)} min, ${a.observed.samples} samples${a.observed.memoryPeakBytes !== null ? `, peak memory ${(a.observed.memoryPeakBytes / MIB).toFixed(1)}M of ${a.current.memoryBytes !== null ? `${(a.current.memoryBytes / MIB).toFixed(0)}M` : '–'} reserved` : ''}${a.observed.cpuAvg !== null ? `, CPU ${(a.observed.cpuAvg * 100).toFixed(1)}% per instance on average` : ''}${a.observed.oomKills ? `, ${a.observed.oomKills} OOM kill(s)` : ''}</div>
        </div>`}
    </div>`;
}
