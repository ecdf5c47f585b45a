// Scale, roll back and restart, with the operation's progress lines or its error (progress.ts).
import { useEffect, useRef, useState } from 'preact/hooks';
import type { AppView, ReleaseView, StreamResult, SummonClient } from '../../sdk/client.js';
import { html } from '../html.js';
import { useProgress } from './progress.js';

export function Actions({ client, app, releases, onDone }: { client: SummonClient; app: AppView; releases: ReleaseView[] | null; onDone: () => void }) {
  const [count, setCount] = useState(String(app.desiredCount));
  const [target, setTarget] = useState('');
  const [busy, setBusy] = useState<string | null>(null);
  const touched = useRef(false);
  const p = useProgress(() => {
    setBusy(null);
    touched.current = false;
    onDone();
  });
  useEffect(() => {
    if (!touched.current) setCount(String(app.desiredCount));
  }, [app.desiredCount]);

  const act = (what: string, f: (line: (l: string) => void) => Promise<StreamResult | string | void>) => {
    setBusy(what);
    void p.run(f);
  };
  const candidates = (releases ?? []).filter((r) => r.artifactSha256 && r.version !== app.liveVersion && r.status !== 'failed');
  return html`
    <div class="actions">
      <div class="group">
        <label for="scale">Instances</label>
        <input id="scale" type="number" min="0" value=${count} data-testid="scale-input"
          onInput=${(e: Event) => { touched.current = true; setCount((e.currentTarget as HTMLInputElement).value); }} />
        <button class="primary" data-testid="scale-button" disabled=${busy !== null}
          onClick=${() => act('scale', async () => {
            const n = Number(count);
            if (!Number.isInteger(n) || n < 0) throw new Error('the instance count must be a whole number ≥ 0');
            const a = await client.scale(app.name, n);
            return `Scaling ${app.name} to ${a.desiredCount} instance(s).`;
          })}>Scale</button>
      </div>
      <div class="group">
        <select data-testid="rollback-select" value=${target} onChange=${(e: Event) => setTarget((e.currentTarget as HTMLSelectElement).value)}>
          <option value="">Roll back to…</option>
          ${candidates.map((r) => html`<option value=${r.version}>v${r.version} — ${r.description}</option>`)}
        </select>
        <button data-testid="rollback-button" disabled=${busy !== null || !target}
          onClick=${() => act('rollback', (line) => client.rollback(app.name, Number(target), line))}>Roll back</button>
      </div>
      <div class="group">
        <button data-testid="restart-button" disabled=${busy !== null || app.liveVersion === null}
          onClick=${() => act('restart', (line) => client.restart(app.name, line))}>Restart</button>
      </div>
      ${busy && html`<span class="sub" data-testid="action-busy">${busy}…</span>`}
    </div>
    ${p.view('action')}`;
}
