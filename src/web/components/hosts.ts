// The hosts page (admin tokens): each host's link, address, instances and runtimes.
import type { SummonClient } from '../../sdk/client.js';
import { html } from '../html.js';
import { LINK_TONE, POLL_MS, ago } from '../format.js';
import { usePoll } from '../hooks.js';
import { Badge } from './badge.js';

export function Hosts({ client }: { client: SummonClient }) {
  const { data: hosts, error } = usePoll(() => client.hosts(), POLL_MS, [client]);
  const { data: cluster } = usePoll(() => client.cluster(), POLL_MS, [client]);
  const now = Date.now();
  return html`
    <h1>Hosts</h1>
    <p class="sub">Add one with <code>summon agent</code> on it and <code>summon up --agent ID=URL</code> here.</p>
    ${error && html`<div class="error">${error.message}</div>`}
    <div class="panel">
      ${hosts === null ? html`<div class="empty">Loading…</div>` : html`
        <div class="table-wrap"><table data-testid="host-list">
          <thead><tr><th>Host</th><th>Link</th><th>Address</th><th>Instances</th><th>Runtimes</th></tr></thead>
          <tbody>
            ${hosts.map((h) => html`
              <tr key=${h.id} data-testid="host-row" data-host=${h.id} data-link=${h.link}>
                <td><b>${h.id}</b>${h.url ? html`<div class="sub mono">${h.url}</div>` : ''}</td>
                <td><${Badge} tone=${LINK_TONE[h.link]}>${h.link}</${Badge}>
                  <div class="sub">${h.link === 'unreachable' ? `${h.error ?? ''} (${ago(h.since, now)})` : `since ${ago(h.since, now)}`}</div></td>
                <td class="mono">${h.address}</td>
                <td>${h.instances}</td>
                <td>${h.runtimes.map((r) => html`<div title=${r.reason}>${r.target}: ${r.available ? (r.accel ?? 'yes') : 'no'}</div>`)}</td>
              </tr>`)}
          </tbody>
        </table></div>`}
    </div>
    <h2>Control plane</h2>
    <div class="panel" data-testid="control-plane">
      ${cluster === null ? html`<div class="empty">Loading…</div>` : html`
        <p>Store: <code data-testid="cluster-store">${cluster.store}</code></p>
        ${cluster.lease === null
          ? html`<p class="sub" data-testid="cluster-leader">One node (${cluster.node}) reconciles: several need a <code>postgres://</code> store.</p>`
          : html`<p data-testid="cluster-leader">${cluster.leader
            ? html`Leader: <b>${cluster.leader.node}</b> since ${ago(cluster.leader.since, now)} (epoch ${cluster.leader.epoch}; lease ${cluster.lease.ttlMs / 1000}s, renewed every ${cluster.lease.renewMs / 1000}s)`
            : 'No leader right now: a failover is under way.'}</p>
            <div class="table-wrap"><table data-testid="node-list">
              <thead><tr><th>Node</th><th>Role</th><th>API</th><th>Router</th><th>Seen</th></tr></thead>
              <tbody>
                ${cluster.nodes.map((n) => html`
                  <tr key=${n.id} data-testid="node-row" data-node=${n.id} data-leader=${String(n.leader)}>
                    <td><b>${n.id}</b><div class="sub">${n.version}</div></td>
                    <td><${Badge} tone=${n.up ? (n.leader ? 'ok' : '') : 'bad'}>${n.leader ? 'leader' : n.up ? 'follower' : 'down'}</${Badge}></td>
                    <td class="mono">${n.api}</td>
                    <td class="mono">${n.router}</td>
                    <td>${ago(n.seenAt, now)}</td>
                  </tr>`)}
              </tbody>
            </table></div>`}`}
    </div>`;
}
