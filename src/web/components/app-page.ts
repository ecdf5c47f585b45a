// One app: its state and actions, charts, usage, instances, releases, config vars, autoscale
// policy, events and log; with an admin token, destroying it. Each panel is a component of its
// own; a new one is added to the list below.
import { useCallback } from 'preact/hooks';
import type { ReleaseView, SummonClient, WhoAmI } from '../../sdk/client.js';
import { html } from '../html.js';
import { POLL_MS, appBadge } from '../format.js';
import { usePoll } from '../hooks.js';
import { Actions } from './actions.js';
import { Autoscale } from './autoscale.js';
import { Badge } from './badge.js';
import { Charts } from './charts.js';
import { ConfigVars } from './config-vars.js';
import { DestroyApp } from './destroy-app.js';
import { Economics } from './economics.js';
import { Events } from './events.js';
import { Instances } from './instances.js';
import { LogTail } from './log-tail.js';
import { Releases } from './releases.js';

export function AppPage({ client, name, who }: { client: SummonClient; name: string; who: WhoAmI | null }) {
  const app = usePoll(() => client.app(name), POLL_MS, [client, name]);
  const instances = usePoll(() => client.instances(name), POLL_MS, [client, name]);
  const releases = usePoll(() => client.releases(name), 5000, [client, name]);
  const refresh = useCallback(() => {
    app.refresh();
    instances.refresh();
    releases.refresh();
  }, [app, instances, releases]);
  const a = app.data;
  if (app.error && !a) {
    return html`<div class="crumbs"><a href="#/">← Apps</a></div><div class="error" data-testid="app-error">${app.error.message}</div>`;
  }
  if (!a) return html`<div class="empty">Loading…</div>`;
  const newest = (releases.data ?? []).reduce<ReleaseView | null>((m, r) => (m === null || r.version > m.version ? r : m), null);
  const badge = appBadge(a.state, newest);
  // Separators as strings of their own: htm drops whitespace that holds a line break.
  const meta = [
    html`<a href=${a.url} target="_blank" rel="noreferrer">${a.url}</a>`,
    `live ${a.liveVersion ? `v${a.liveVersion}` : '–'}${a.targetVersion ? ` (deploying v${a.targetVersion})` : ''}`,
    html`<span><span data-testid="app-healthy">${a.instances.healthy}</span> healthy of ${a.desiredCount} desired</span>`,
    `scale ${a.scale.min}–${a.scale.max} (${a.scalePolicySource})`,
    html`<span>git <code>${a.gitUrl}</code></span>`,
  ];
  return html`
    <div class="crumbs"><a href="#/" data-testid="back">← Apps</a></div>
    <h1 data-testid="app-name">${a.name} <span title=${badge.title}><${Badge} tone=${badge.tone} testid="app-state">${badge.label}</${Badge}></span></h1>
    <div class="sub meta" data-testid="app-meta">${meta.map((m, i) => [i > 0 ? ' · ' : '', m])}</div>
    ${who?.token.scope === 'read'
      ? html`<div class="sub" data-testid="read-only">A read token: this page shows the app; scaling, rollbacks, restarts and config changes need a deploy token.</div>`
      : html`<div class="panel"><${Actions} client=${client} app=${a} releases=${releases.data} onDone=${refresh} /></div>`}
    <${Charts} client=${client} name=${name} />
    <${Economics} client=${client} name=${name} />
    <div class="panel"><h2>Instances</h2><${Instances} instances=${instances.data} /></div>
    <div class="panel"><h2>Releases</h2><${Releases} client=${client} name=${name} releases=${releases.data} /></div>
    <div class="panel" data-testid="config"><${ConfigVars} client=${client} name=${name} who=${who} releases=${releases.data} onDone=${refresh} /></div>
    <div class="panel" data-testid="autoscale"><${Autoscale} client=${client} app=${a} who=${who} onDone=${refresh} /></div>
    <div class="panel" data-testid="events-panel"><${Events} client=${client} name=${name} /></div>
    <div class="panel"><${LogTail} client=${client} name=${name} instances=${instances.data} /></div>
    ${who?.token.scope === 'admin' && html`<div class="panel danger-zone" data-testid="destroy"><${DestroyApp} client=${client} name=${name} /></div>`}`;
}
