// The app's instances: state, health or failure reason, CPU, memory, uptime, restarts.
import type { Instance } from '../../sdk/client.js';
import { html } from '../html.js';
import { INSTANCE_TONE, ago, mib, pct } from '../format.js';
import { Badge } from './badge.js';

export function Instances({ instances }: { instances: Instance[] | null }) {
  if (!instances) return html`<div class="empty">Loading…</div>`;
  if (!instances.length) return html`<div class="empty" data-testid="no-instances">No instances.</div>`;
  const now = Date.now();
  return html`
    <div class="table-wrap"><table data-testid="instance-list">
      <thead><tr><th>Instance</th><th>Release</th><th>State</th><th>Health / reason</th><th>CPU</th><th>Memory</th><th>Uptime</th><th>Restarts</th></tr></thead>
      <tbody>
        ${instances.map((i) => html`
          <tr key=${i.id} data-testid="instance-row" data-instance=${i.id} data-state=${i.state}>
            <td class="mono">${i.id}<div class="sub">${i.host}${i.port ? `:${i.port}` : ''}</div></td>
            <td>v${i.version}</td>
            <td><${Badge} tone=${INSTANCE_TONE[i.state]}>${i.state}</${Badge}></td>
            <td class="reason" data-testid="instance-reason">${i.reason ?? '–'}${i.state === 'crashed' && i.nextRetryAt ? ` (retry in ${Math.max(0, Math.round((i.nextRetryAt - now) / 1000))}s)` : ''}</td>
            <td>${pct(i.cpu)}</td>
            <td data-testid="instance-memory" data-bytes=${i.memoryBytes ?? ''}>${mib(i.memoryBytes)}</td>
            <td>${i.startedAt && i.pid ? ago(i.startedAt, now) : '–'}</td>
            <td>${i.restarts}</td>
          </tr>`)}
      </tbody>
    </table></div>`;
}
