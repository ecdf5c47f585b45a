// A release's build manifest: what exactly went into it, and its rebuild verification.
import type { ReleaseView } from '../../sdk/client.js';
import { html } from '../html.js';
import { ago, bytes, short } from '../format.js';

export function Manifest({ r }: { r: ReleaseView }) {
  const m = r.buildManifest;
  if (!m) return html`<div class="manifest" data-testid="release-manifest">No build manifest: ${r.description}${r.reason ? ` — ${r.reason}` : ''}</div>`;
  return html`
    <div class="manifest" data-testid="release-manifest">
      <dl>
        <dt>commit</dt><dd class="mono" data-testid="manifest-commit">${m.commit}</dd>
        <dt>tree</dt><dd class="mono">${m.tree}</dd>
        <dt>ref</dt><dd class="mono">${m.ref}</dd>
        <dt>summon.toml sha256</dt><dd class="mono">${m.summonTomlSha256}</dd>
        <dt>artifact</dt><dd class="mono">${m.artifact.path} · ${m.artifact.target} · ${bytes(m.artifact.size)}</dd>
        <dt>verified</dt><dd data-testid="manifest-verified">${r.verification ? `${r.verification.result} ${ago(r.verification.checkedAt)} ago${r.verification.differences.length ? `: ${r.verification.differences.join('; ')}` : ''}` : html`not yet (<code>summon releases:verify -a ${r.app} v${r.version}</code>)`}</dd>
        <dt>artifact sha256</dt><dd class="mono" data-testid="manifest-artifact">${m.artifact.sha256}</dd>
        <dt>build / test</dt><dd class="mono">${m.build.command ?? '–'} / ${m.build.test ?? '–'}</dd>
        <dt>platform</dt><dd>${m.platform.os} ${m.platform.arch}, kernel ${m.platform.kernel}, node ${m.platform.node}, summon ${m.platform.summon}</dd>
        <dt>toolchain</dt><dd>${m.toolchain.length ? m.toolchain.map((t) => html`<div class="mono">${t.command} → ${t.output.trim()}${t.exitCode ? ` (exit ${t.exitCode})` : ''}</div>`) : '–'}</dd>
        <dt>lockfiles</dt><dd>${m.lockfiles.length ? m.lockfiles.map((l) => html`<div class="mono">${l.path} ${short(l.sha256, 16)}</div>`) : '–'}</dd>
        <dt>steps</dt><dd>${m.steps.map((s) => html`<div>${s.name}: ${(s.durationMs / 1000).toFixed(2)}s${s.exitCode !== null ? `, exit ${s.exitCode}` : ''}</div>`)}</dd>
        ${r.configKeys.length ? html`<dt>config keys</dt><dd class="mono">${r.configKeys.join(', ')}</dd>` : ''}
      </dl>
    </div>`;
}
