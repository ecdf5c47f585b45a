// The apps the token reaches, with their state, live release and instances; an admin token
// creates apps here too.
import { useState } from 'preact/hooks';
import type { AppView, ReleaseView, SummonClient, WhoAmI } from '../../sdk/client.js';
import { APP_NAME_RE, APP_NAME_RULE } from '../../core/names.js';
import { html } from '../html.js';
import { POLL_MS, appBadge } from '../format.js';
import { usePoll } from '../hooks.js';
import { Badge } from './badge.js';

/** The apps, and for those with no live release their newest release (a failed push shows red). */
async function loadApps(client: SummonClient): Promise<{ apps: AppView[]; newest: Map<string, ReleaseView> }> {
  const apps = await client.apps();
  const newest = new Map<string, ReleaseView>();
  await Promise.all(apps.filter((a) => a.state === 'no-release').map(async (a) => {
    const rs = await client.releases(a.name).catch(() => []);
    const top = rs.reduce<ReleaseView | null>((m, r) => (m === null || r.version > m.version ? r : m), null);
    if (top) newest.set(a.name, top);
  }));
  return { apps, newest };
}

function CreateApp({ client }: { client: SummonClient }) {
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const submit = async (ev: Event) => {
    ev.preventDefault();
    const n = name.trim();
    if (!APP_NAME_RE.test(n)) {
      setError(`"${n}" is not an app name: ${APP_NAME_RULE}`);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const a = await client.createApp(n);
      location.hash = `#/apps/${a.name}`;
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return html`
    <form class="actions create" onSubmit=${submit} data-testid="create-app">
      <div class="group">
        <label for="new-app">New app</label>
        <input id="new-app" data-testid="create-app-name" placeholder="name" value=${name} autocomplete="off"
          onInput=${(e: Event) => setName((e.currentTarget as HTMLInputElement).value)} />
        <button class="primary" type="submit" data-testid="create-app-button" disabled=${busy || !name.trim()}>Create</button>
      </div>
    </form>
    ${error && html`<div class="error" data-testid="create-app-error">${error}</div>`}`;
}

export function AppList({ client, who }: { client: SummonClient; who: WhoAmI | null }) {
  const { data, error } = usePoll(() => loadApps(client), POLL_MS, [client]);
  const apps = data?.apps ?? null;
  const admin = who?.token.scope === 'admin';
  return html`
    <h1>Apps</h1>
    ${admin ? html`<div class="panel"><${CreateApp} client=${client} /><div class="sub">then <code>git push</code> to its remote.</div></div>`
      : html`<p class="sub">An admin creates apps (<code>summon apps:create NAME</code>); then <code>git push</code> to its remote.</p>`}
    ${error && html`<div class="error">${error.message}</div>`}
    <div class="panel">
      ${apps === null ? html`<div class="empty">Loading…</div>`
        : apps.length === 0 ? html`<div class="empty" data-testid="no-apps">No apps yet.</div>`
          : html`
        <div class="table-wrap"><table data-testid="app-list">
          <thead><tr><th>App</th><th>State</th><th>Live release</th><th>Instances (healthy / desired)</th><th>URL</th></tr></thead>
          <tbody>
            ${apps.map((a) => {
              const b = appBadge(a.state, data?.newest.get(a.name));
              return html`
              <tr class="clickable" data-testid="app-row" data-app=${a.name} key=${a.name}
                onClick=${(e: MouseEvent) => { if ((e.target as Element).tagName !== 'A') location.hash = `#/apps/${a.name}`; }}>
                <td><a href=${`#/apps/${a.name}`} data-testid=${`app-link-${a.name}`}><b>${a.name}</b></a></td>
                <td><span title=${b.title}><${Badge} tone=${b.tone} testid="app-row-state">${b.label}</${Badge}></span></td>
                <td>${a.liveVersion ? `v${a.liveVersion}` : '–'}${a.targetVersion ? html` <span class="sub">→ v${a.targetVersion}</span>` : ''}</td>
                <td data-testid="app-instances">${a.instances.healthy} / ${a.desiredCount}</td>
                <td class="url"><a href=${a.url} target="_blank" rel="noreferrer">${a.url}</a></td>
              </tr>`;
            })}
          </tbody>
        </table></div>`}
    </div>`;
}
