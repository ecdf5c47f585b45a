// The app's events, newest first: the last 50, then every new one (polled after the last id).
import { useEffect, useState } from 'preact/hooks';
import type { SummonClient, SummonEvent } from '../../sdk/client.js';
import { html } from '../html.js';
import { POLL_MS, ago, type Tone } from '../format.js';
import { Badge } from './badge.js';

const KEEP = 200;

function tone(type: string): Tone {
  if (/crash|fail|unhealthy|unreachable|refused|oom/.test(type)) return 'bad';
  if (/live|healthy|connected/.test(type)) return 'ok';
  return '';
}

export function Events({ client, name }: { client: SummonClient; name: string }) {
  const [events, setEvents] = useState<SummonEvent[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let alive = true;
    let last: number | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async () => {
      try {
        const got = await client.events(name, last === null ? { limit: 50 } : { after: last, limit: KEEP });
        if (!alive) return;
        if (got.length) last = got[got.length - 1]!.id;
        setEvents((old) => [...got.slice().reverse(), ...(old ?? [])].slice(0, KEEP));
        setError(null);
      } catch (e) {
        if (alive) setError((e as Error).message);
      }
      if (alive) timer = setTimeout(run, POLL_MS);
    };
    void run();
    return () => {
      alive = false;
      clearTimeout(timer);
    };
  }, [client, name]);
  const now = Date.now();
  return html`
    <h2>Events</h2>
    ${error && html`<div class="error">${error}</div>`}
    ${events === null ? html`<div class="empty">Loading…</div>` : events.length === 0 ? html`<div class="empty" data-testid="events-none">No events yet.</div>` : html`
      <div class="feed" data-testid="events">
        ${events.map((e) => html`<div class="event" key=${e.id} data-testid="event-row" data-type=${e.type} data-id=${e.id}>
          <span class="t" title=${new Date(e.at).toISOString()}>${ago(e.at, now)} ago</span>
          <${Badge} tone=${tone(e.type)}>${e.type}</${Badge}>
          <span class="message">${e.message}</span>
        </div>`)}
      </div>`}`;
}
