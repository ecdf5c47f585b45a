// One app: its state and actions, charts, usage, instances, releases and log.
import { useCallback } from 'preact/hooks';
import type { SummonClient } from '../../sdk/client.js';
import { html } from '../html.js';
import { APP_TONE, POLL_MS } from '../format.js';
import { usePoll } from '../hooks.js';
import { Actions } from './actions.js';
import { Badge } from './badge.js';
import { Charts } from './charts.js';
import { Economics } from './economics.js';
import { Instances } from './instances.js';
import { LogTail } from './log-tail.js';
import { Releases } from './releases.js';

export function AppPage({ client, name }: { client: SummonClient; name: string }) {
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
  return html`
    <div class="crumbs"><a href="#/" data-testid="back">← Apps</a></div>
    <h1 data-testid="app-name">${a.name} <${Badge} tone=${APP_TONE[a.state]} testid="app-state">${a.state}</${Badge}></h1>
    <div class="sub">
      <a href=${a.url} target="_blank" rel="noreferrer">${a.url}</a>
      ${' · '}live ${a.liveVersion ? `v${a.liveVersion}` : '–'}${a.targetVersion ? ` (deploying v${a.targetVersion})` : ''}
      · <span data-testid="app-healthy">${a.instances.healthy}</span> healthy of ${a.desiredCount} desired
      · scale ${a.scale.min}–${a.scale.max} (${a.scalePolicySource})
      · git <code>${a.gitUrl}</code>
    </div>
    <div class="panel"><${Actions} client=${client} app=${a} releases=${releases.data} onDone=${refresh} /></div>
    <${Charts} client=${client} name=${name} />
    <${Economics} client=${client} name=${name} />
    <div class="panel"><h2>Instances</h2><${Instances} instances=${instances.data} /></div>
    <div class="panel"><h2>Releases</h2><${Releases} client=${client} name=${name} releases=${releases.data} /></div>
    <div class="panel"><${LogTail} client=${client} name=${name} /></div>`;
}
