// Destroying the app (an admin token): instances, releases, repository and logs go. The button
// stays disabled until the app's name is typed, as Heroku asks.
import { useState } from 'preact/hooks';
import type { SummonClient } from '../../sdk/client.js';
import { html } from '../html.js';
import { useProgress } from './progress.js';

export function DestroyApp({ client, name }: { client: SummonClient; name: string }) {
  const [typed, setTyped] = useState('');
  const p = useProgress();
  const destroy = (ev: Event) => {
    ev.preventDefault();
    void p.run(async () => {
      if (typed !== name) throw new Error(`type the app's name, ${name}, to destroy it`);
      await client.destroyApp(name);
      location.hash = '#/';
    });
  };
  return html`
    <h2>Destroy app</h2>
    <p class="sub">Stops its instances and deletes its releases, repository, config vars and logs. This cannot be undone.</p>
    <form class="actions" onSubmit=${destroy}>
      <div class="group">
        <label for="destroy-confirm">Type <b class="mono">${name}</b> to confirm</label>
        <input id="destroy-confirm" data-testid="destroy-input" value=${typed} autocomplete="off"
          onInput=${(e: Event) => setTyped((e.currentTarget as HTMLInputElement).value)} />
        <button class="danger" type="submit" data-testid="destroy-button" disabled=${p.busy || typed !== name}>Destroy ${name}</button>
      </div>
    </form>
    ${p.view('destroy')}`;
}
