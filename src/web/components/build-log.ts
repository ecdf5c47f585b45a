// The build that made a release, with the log its pusher saw (fetched when the release is opened).
import { useEffect, useState } from 'preact/hooks';
import type { BuildView, SummonClient } from '../../sdk/client.js';
import type { SummonError } from '../../core/errors.js';
import { html } from '../html.js';
import { bytes } from '../format.js';

export function BuildLog({ client, name, version }: { client: SummonClient; name: string; version: number }) {
  const [state, setState] = useState<{ build: BuildView | null; error: string | null }>({ build: null, error: null });
  useEffect(() => {
    let gone = false;
    client.build(name, version).then(
      (build) => { if (!gone) setState({ build, error: null }); },
      (e: SummonError) => { if (!gone) setState({ build: null, error: e.code === 'not_found' ? 'made without a build (a rollback or a config change)' : e.message }); },
    );
    return () => { gone = true; };
  }, [client, name, version]);
  if (state.error) return html`<div class="sub" data-testid="build-log">Build: ${state.error}</div>`;
  if (!state.build) return html`<div class="sub">Loading the build…</div>`;
  const b = state.build;
  return html`
    <div data-testid="build-log">
      <div class="sub">Build ${b.status}${b.durationMs !== null ? ` in ${(b.durationMs / 1000).toFixed(1)}s` : ''} · ${bytes(b.logBytes)} of log${b.truncated ? ' (the middle cut out)' : ''}</div>
      <pre class="logs">${b.log}</pre>
    </div>`;
}
