// The page around everything: sign-in, the header, and the hash routes (#/, #/hosts, #/apps/NAME).
import { useRef, useState } from 'preact/hooks';
import { SummonClient, type WhoAmI } from '../../sdk/client.js';
import { APP_NAME_RE } from '../../core/names.js';
import { html } from '../html.js';
import { useHash } from '../hooks.js';
import { AppList } from './app-list.js';
import { AppPage } from './app-page.js';
import { Hosts } from './hosts.js';
import { SignIn } from './sign-in.js';

// The token is kept for this tab's session only (sessionStorage: gone when the tab closes,
// never sent by the browser on its own as a cookie would be). Earlier versions kept it in
// localStorage: whatever is left there is dropped.
const TOKEN_KEY = 'summon.token';
const session = window.sessionStorage;
localStorage.removeItem(TOKEN_KEY);

export function Shell() {
  const [token, setToken] = useState<string | null>(() => session.getItem(TOKEN_KEY));
  const [who, setWho] = useState<WhoAmI | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const hash = useHash();
  const client = useRef<{ token: string; c: SummonClient } | null>(null);
  if (token && (!client.current || client.current.token !== token)) {
    const c = new SummonClient({
      api: location.origin, token,
      // A revoked or changed token signs the dashboard out instead of failing every poll.
      fetch: async (url, init) => {
        const res = await fetch(url, init);
        if (res.status === 401) {
          session.removeItem(TOKEN_KEY);
          setMessage('Your token is no longer valid; sign in again.');
          setToken(null);
        }
        return res;
      },
    });
    client.current = { token, c };
    c.whoami().then(setWho, () => setWho(null));
  }
  if (!token || !client.current) {
    return html`<main><${SignIn} message=${message} onToken=${(t: string) => { session.setItem(TOKEN_KEY, t); setMessage(null); setToken(t); }} /></main>`;
  }
  const c = client.current.c;
  const m = /^#\/apps\/([^/]+)$/.exec(hash);
  const appName = m && APP_NAME_RE.test(m[1]!) ? m[1]! : null;
  return html`
    <header class="top">
      <a class="brand" href="#/">Summon</a>
      <a href="#/">Apps</a>
      ${(!who || who.token.scope === 'admin') && html`<a href="#/hosts" data-testid="nav-hosts">Hosts</a>`}
      <span class="spacer"></span>
      <span class="who" data-testid="who">${who ? `${who.user.email} · ${who.token.scope}${who.token.app ? ` (${who.token.app})` : ''} · ` : ''}${location.host}</span>
      <a href="#/" data-testid="sign-out" onClick=${(e: Event) => { e.preventDefault(); session.removeItem(TOKEN_KEY); setWho(null); setToken(null); }}>Sign out</a>
    </header>
    <main>
      ${appName ? html`<${AppPage} key=${appName} client=${c} name=${appName} who=${who} />`
        : hash === '#/hosts' ? html`<${Hosts} client=${c} />`
          : html`<${AppList} client=${c} who=${who} />`}
    </main>`;
}
