// The app's live log: the last lines, then every new one (the SDK's SSE reader), reconnecting.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { LogLine, SummonClient } from '../../sdk/client.js';
import { html } from '../html.js';

const MAX_LOG_LINES = 500;

export function LogTail({ client, name }: { client: SummonClient; name: string }) {
  const [lines, setLines] = useState<LogLine[]>([]);
  const [status, setStatus] = useState('connecting');
  const box = useRef<HTMLDivElement>(null);
  const stick = useRef(true);
  useEffect(() => {
    const ac = new AbortController();
    let pending: LogLine[] = [];
    let flush: ReturnType<typeof setTimeout> | null = null;
    const push = (l: LogLine) => {
      pending.push(l);
      flush ??= setTimeout(() => {
        const batch = pending;
        pending = [];
        flush = null;
        setLines((old) => [...old, ...batch].slice(-MAX_LOG_LINES));
      }, 100);
    };
    const follow = async () => {
      while (!ac.signal.aborted) {
        setStatus('live');
        try {
          setLines([]);
          await client.tailLogs(name, { limit: 200 }, push, ac.signal);
        } catch {
          // reconnect below
        }
        if (ac.signal.aborted) break;
        setStatus('reconnecting');
        await new Promise((r) => setTimeout(r, 2000));
      }
    };
    void follow();
    return () => {
      ac.abort();
      if (flush) clearTimeout(flush);
    };
  }, [client, name]);
  useEffect(() => {
    if (stick.current && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [lines]);
  return html`
    <h2>Logs <span class="sub" data-testid="log-status">${status}</span></h2>
    <div class="logs mono" ref=${box} data-testid="log-tail"
      onScroll=${(e: Event) => { const el = e.currentTarget as HTMLElement; stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 30; }}>
      ${lines.map((l) => html`<div key=${l.seq} data-testid="log-line"><span class="t">${new Date(l.at).toISOString().slice(11, 23)}</span> <span class=${l.source === 'summon' ? 's' : 'p'}>${l.source === 'summon' ? `summon[${l.proc}]` : l.proc}</span> ${l.text}</div>`)}
    </div>`;
}
