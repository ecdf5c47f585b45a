// The sign-in form: a read, deploy or admin token, checked with whoami before it is kept.
import { useState } from 'preact/hooks';
import { SummonClient } from '../../sdk/client.js';
import type { SummonError } from '../../core/errors.js';
import { html } from '../html.js';

export function SignIn({ onToken, message }: { onToken: (token: string) => void; message: string | null }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(message ?? null);
  const [busy, setBusy] = useState(false);
  const submit = async (ev: Event) => {
    ev.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const who = await new SummonClient({ api: location.origin, token: token.trim() }).whoami();
      if (who.token.scope === 'metrics') throw new Error('A metrics token can only scrape /metrics: sign in with a read, deploy or admin token.');
      onToken(token.trim());
    } catch (e) {
      const err = e as SummonError;
      setError(err.code === 'unauthorized' || err.code === 'rate_limited' ? `Sign-in refused: ${err.message}` : err.message);
    } finally {
      setBusy(false);
    }
  };
  return html`
    <div class="panel signin">
      <h1>Summon</h1>
      <p class="sub">Sign in with your API token (printed by <code>summon up</code>, or <code>summon auth:token</code>).</p>
      <form onSubmit=${submit}>
        <label for="token">API token</label>
        <input id="token" type="password" autocomplete="current-password" data-testid="token-input"
          value=${token} onInput=${(e: Event) => setToken((e.currentTarget as HTMLInputElement).value)} placeholder="sk_…" />
        ${error && html`<div class="error" data-testid="sign-in-error">${error}</div>`}
        <button class="primary" type="submit" disabled=${busy || !token.trim()} data-testid="sign-in">Sign in</button>
      </form>
    </div>`;
}
