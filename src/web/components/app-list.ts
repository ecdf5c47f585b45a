// The apps the token reaches, with their state, live release and instances.
import type { SummonClient } from '../../sdk/client.js';
import { html } from '../html.js';
import { APP_TONE, POLL_MS } from '../format.js';
import { usePoll } from '../hooks.js';
import { Badge } from './badge.js';

export function AppList({ client }: { client: SummonClient }) {
  const { data: apps, error } = usePoll(() => client.apps(), POLL_MS, [client]);
  return html`
    <h1>Apps</h1>
    <p class="sub">Create one with <code>summon apps:create NAME</code>, then <code>git push</code> to its remote.</p>
    ${error && html`<div class="error">${error.message}</div>`}
    <div class="panel">
      ${apps === null ? html`<div class="empty">Loading…</div>`
        : apps.length === 0 ? html`<div class="empty" data-testid="no-apps">No apps yet.</div>`
          : html`
        <table data-testid="app-list">
          <thead><tr><th>App</th><th>State</th><th>Live release</th><th>Instances (healthy / desired)</th><th>URL</th></tr></thead>
          <tbody>
            ${apps.map((a) => html`
              <tr class="clickable" data-testid="app-row" data-app=${a.name} key=${a.name}
                onClick=${(e: MouseEvent) => { if ((e.target as Element).tagName !== 'A') location.hash = `#/apps/${a.name}`; }}>
                <td><a href=${`#/apps/${a.name}`} data-testid=${`app-link-${a.name}`}><b>${a.name}</b></a></td>
                <td><${Badge} tone=${APP_TONE[a.state]}>${a.state}</${Badge}></td>
                <td>${a.liveVersion ? `v${a.liveVersion}` : '–'}${a.targetVersion ? html` <span class="sub">→ v${a.targetVersion}</span>` : ''}</td>
                <td data-testid="app-instances">${a.instances.healthy} / ${a.desiredCount}</td>
                <td><a href=${a.url} target="_blank" rel="noreferrer">${a.url}</a></td>
              </tr>`)}
          </tbody>
        </table>`}
    </div>`;
}
