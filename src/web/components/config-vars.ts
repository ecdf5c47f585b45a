// Config vars: names and values with a deploy or admin token (values hidden until revealed),
// names only with a read token (from the live release: it may not see values). Setting or
// unsetting one makes a release and rolls it out; its progress is shown as it happens.
import { useState } from 'preact/hooks';
import type { ReleaseView, SummonClient, WhoAmI } from '../../sdk/client.js';
import type { SummonError } from '../../core/errors.js';
import { CONFIG_KEY_RE } from '../../core/names.js';
import { html } from '../html.js';
import { usePoll } from '../hooks.js';
import { useProgress } from './progress.js';

export function ConfigVars({ client, name, who, releases, onDone }: { client: SummonClient; name: string; who: WhoAmI | null; releases: ReleaseView[] | null; onDone: () => void }) {
  const config = usePoll(() => client.config(name), 5000, [client, name]);
  const [reveal, setReveal] = useState(false);
  const [key, setKey] = useState('');
  const [value, setValue] = useState('');
  const p = useProgress(() => { config.refresh(); onDone(); });
  const canWrite = who !== null && who.token.scope !== 'read';
  const hidden = config.error !== null && (config.error as SummonError).code === 'forbidden';
  const live = releases?.find((r) => r.status === 'live');
  const entries: [string, string | null][] = config.data
    ? Object.entries(config.data).sort(([a], [b]) => a.localeCompare(b))
    : hidden ? (live?.configKeys ?? []).slice().sort().map((k) => [k, null]) : [];

  const set = (ev: Event) => {
    ev.preventDefault();
    const k = key.trim();
    void p.run(async (line) => {
      if (!CONFIG_KEY_RE.test(k)) throw new Error(`"${k}" is not a config var name: letters, digits and "_", not starting with a digit`);
      const r = await client.setConfig(name, { [k]: value }, [], line);
      setKey('');
      setValue('');
      return r;
    });
  };
  const unset = (k: string) => p.run((line) => client.setConfig(name, {}, [k], line));
  return html`
    <h2>Config vars ${config.data && entries.length > 0 && html`<button class="small" data-testid="config-reveal" onClick=${() => setReveal(!reveal)}>${reveal ? 'Hide values' : 'Reveal values'}</button>`}</h2>
    ${config.data === null && !hidden ? html`<div class="empty">${config.error ? config.error.message : 'Loading…'}</div>` : html`
      ${hidden && html`<div class="sub" data-testid="config-hidden">Names of the live release's config vars: this token does not see their values (a read token; values need a deploy token).</div>`}
      ${entries.length === 0 ? html`<div class="empty" data-testid="config-none">No config vars.</div>` : html`
        <div class="table-wrap"><table data-testid="config-list">
          <thead><tr><th>Name</th><th>Value</th>${canWrite && html`<th></th>`}</tr></thead>
          <tbody>
            ${entries.map(([k, v]) => html`<tr key=${k} data-testid="config-row" data-key=${k}>
              <td class="mono">${k}</td>
              <td class="mono value" data-testid="config-value">${v === null ? '(hidden)' : reveal ? v : '••••••'}</td>
              ${canWrite && html`<td><button class="small" data-testid="config-unset" disabled=${p.busy} onClick=${() => unset(k)}>Unset</button></td>`}
            </tr>`)}
          </tbody>
        </table></div>`}`}
    ${canWrite && html`
      <form class="actions config-set" onSubmit=${set}>
        <div class="group">
          <input data-testid="config-key" placeholder="NAME" value=${key} autocomplete="off" onInput=${(e: Event) => setKey((e.currentTarget as HTMLInputElement).value)} />
          <input data-testid="config-new-value" placeholder="value" value=${value} autocomplete="off" onInput=${(e: Event) => setValue((e.currentTarget as HTMLInputElement).value)} />
          <button class="primary" type="submit" data-testid="config-set" disabled=${p.busy || !key.trim()}>Set</button>
        </div>
        ${p.busy && html`<span class="sub" data-testid="config-busy">rolling out…</span>`}
      </form>`}
    ${p.view('config')}`;
}
