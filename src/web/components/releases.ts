// The app's releases; one opens to its build manifest and build log.
import { useState } from 'preact/hooks';
import type { ReleaseView, SummonClient } from '../../sdk/client.js';
import { html } from '../html.js';
import { RELEASE_TONE, ago, short } from '../format.js';
import { Badge } from './badge.js';
import { BuildLog } from './build-log.js';
import { Manifest } from './manifest.js';

export function Releases({ client, name, releases }: { client: SummonClient; name: string; releases: ReleaseView[] | null }) {
  const [open, setOpen] = useState<number | null>(null);
  if (!releases) return html`<div class="empty">Loading…</div>`;
  if (!releases.length) return html`<div class="empty">No releases yet: <code>git push</code> to create one.</div>`;
  return html`
    <div class="table-wrap"><table data-testid="release-list">
      <thead><tr><th>Release</th><th>Status</th><th>Description</th><th>Commit</th><th>Artifact</th><th>Created</th></tr></thead>
      <tbody>
        ${releases.map((r) => [
          html`<tr class="clickable" key=${`r${r.version}`} data-testid=${`release-v${r.version}`} onClick=${() => setOpen(open === r.version ? null : r.version)}>
            <td><b>v${r.version}</b> <span class="sub">${open === r.version ? '▾' : '▸'}</span></td>
            <td><${Badge} tone=${RELEASE_TONE[r.status]}>${r.status}</${Badge}></td>
            <td>${r.description}${r.reason ? html`<div class="reason" data-testid="release-reason">${r.reason}</div>` : ''}</td>
            <td class="mono">${short(r.commit, 7)}</td>
            <td class="mono">${short(r.artifactSha256)}</td>
            <td>${ago(r.createdAt)} ago</td>
          </tr>`,
          open === r.version ? html`<tr key=${`m${r.version}`}><td colspan="6"><${Manifest} r=${r} /><${BuildLog} client=${client} name=${name} version=${r.version} /></td></tr>` : null,
        ])}
      </tbody>
    </table></div>`;
}
