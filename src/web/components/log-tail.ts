// The app's live log: the last lines, then every new one (the SDK's SSE reader), reconnecting.
// Filtered by source (the app's output or Summon's lines about it) and by instance on the
// server (the stream is reopened with them); the search box filters the lines shown.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Instance, LogLine, SummonClient } from '../../sdk/client.js';
import { html } from '../html.js';

const MAX_LOG_LINES = 500;
type Source = '' | 'app' | 'summon';

export function LogTail({ client, name, instances }: { client: SummonClient; name: string; instances: Instance[] | null }) {
  const [lines, setLines] = useState<LogLine[]>([]);
  const [status, setStatus] = useState('connecting');
  const [source, setSource] = useState<Source>('');
  const [instance, setInstance] = useState('');
  const [search, setSearch] = useState('');
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
          await client.tailLogs(name, { limit: 200, ...(source ? { source } : {}), ...(instance ? { instance } : {}) }, push, ac.signal);
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
  }, [client, name, source, instance]);
  const needle = search.trim().toLowerCase();
  const shown = needle ? lines.filter((l) => l.text.toLowerCase().includes(needle) || l.proc.toLowerCase().includes(needle)) : lines;
  useEffect(() => {
    if (stick.current && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [lines, needle]);
  // The instances to pick from: the app's current ones, and the one picked even once it is gone.
  const ids = [...new Set([...(instances ?? []).map((i) => i.id), ...(instance ? [instance] : [])])];
  return html`
    <h2>Logs <span class="sub" data-testid="log-status">${status}</span></h2>
    <div class="actions log-filters">
      <select data-testid="log-source" value=${source} onChange=${(e: Event) => setSource((e.currentTarget as HTMLSelectElement).value as Source)}>
        <option value="">all sources</option>
        <option value="app">app output</option>
        <option value="summon">summon (build, deploy, router…)</option>
      </select>
      <select data-testid="log-instance" value=${instance} onChange=${(e: Event) => setInstance((e.currentTarget as HTMLSelectElement).value)}>
        <option value="">all instances</option>
        ${ids.map((id) => html`<option value=${id}>${id}</option>`)}
      </select>
      <input type="search" data-testid="log-search" placeholder="search" value=${search}
        onInput=${(e: Event) => setSearch((e.currentTarget as HTMLInputElement).value)} />
      <span class="sub" data-testid="log-count">${needle ? `${shown.length} of ${lines.length} lines` : `${lines.length} lines`}</span>
    </div>
    <div class="logs mono" ref=${box} data-testid="log-tail"
      onScroll=${(e: Event) => { const el = e.currentTarget as HTMLElement; stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 30; }}>
      ${shown.map((l) => html`<div key=${l.seq} data-testid="log-line" data-source=${l.source} data-proc=${l.proc}><span class="t">${new Date(l.at).toISOString().slice(11, 23)}</span> <span class=${l.source === 'summon' ? 's' : 'p'}>${l.source === 'summon' ? `summon[${l.proc}]` : l.proc}</span> ${l.text}</div>`)}
    </div>`;
}
