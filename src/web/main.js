// The Summon dashboard: Preact + htm (no JSX, no runtime build step), uPlot charts, and only
// the typed SDK to talk to the API (its fetch-based SSE reader can send the token, which a
// browser EventSource cannot).
import { h, render } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import htm from 'htm';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './styles.css';
import { SummonClient } from '../sdk/client.ts';

const html = htm.bind(h);
// The token is kept for this tab's session only (sessionStorage: gone when the tab closes,
// never sent by the browser on its own as a cookie would be). Earlier versions kept it in
// localStorage: whatever is left there is dropped.
const TOKEN_KEY = 'summon.token';
const session = window.sessionStorage;
localStorage.removeItem(TOKEN_KEY);
const POLL_MS = 2000;
const HOUR_MS = 3_600_000;
const MAX_LOG_LINES = 500;

// ---------- small helpers ----------

function ago(ms, now = Date.now()) {
  if (ms === null || ms === undefined) return '–';
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d`;
}
const mb = (b) => (b === null || b === undefined ? '–' : `${(b / 1048576).toFixed(1)} MB`);
const pct = (c) => (c === null || c === undefined ? '–' : `${(c * 100).toFixed(1)}%`);
const short = (s, n = 12) => (s ? String(s).slice(0, n) : '–');
const bytes = (n) => (n >= 1048576 ? `${(n / 1048576).toFixed(1)} MB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KB` : `${n} B`);

const APP_TONE = { running: 'ok', deploying: 'warn', starting: 'warn', crashed: 'bad', idle: '', 'no-release': '' };
const INSTANCE_TONE = { healthy: 'ok', starting: 'warn', pending: 'warn', draining: 'warn', unhealthy: 'bad', crashed: 'bad', stopped: '' };
const RELEASE_TONE = { live: 'ok', failed: 'bad', building: 'warn', testing: 'warn', deploying: 'warn', ready: '', superseded: '' };

function Badge({ tone, children, testid }) {
  return html`<span class=${`badge ${tone ?? ''}`} data-testid=${testid}>${children}</span>`;
}

function useHash() {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

/** Calls `load` now and every `ms`; keeps the last answer and the last error. */
function usePoll(load, ms, deps) {
  const [state, setState] = useState({ data: null, error: null });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let alive = true;
    let timer = null;
    const run = async () => {
      try {
        const data = await load();
        if (alive) setState({ data, error: null });
      } catch (e) {
        if (alive) setState((s) => ({ data: s.data, error: e }));
      }
      if (alive) timer = setTimeout(run, ms);
    };
    void run();
    return () => {
      alive = false;
      clearTimeout(timer);
    };
  }, [...deps, tick]);
  return { ...state, refresh: () => setTick((t) => t + 1) };
}

// ---------- sign in ----------

function SignIn({ onToken, message }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState(message ?? null);
  const [busy, setBusy] = useState(false);
  const submit = async (ev) => {
    ev.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const who = await new SummonClient({ api: location.origin, token: token.trim() }).whoami();
      if (who.token.scope === 'metrics') throw new Error('A metrics token can only scrape /metrics: sign in with a read, deploy or admin token.');
      onToken(token.trim());
    } catch (e) {
      setError(e.code === 'unauthorized' || e.code === 'rate_limited' ? `Sign-in refused: ${e.message}` : e.message);
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
          value=${token} onInput=${(e) => setToken(e.currentTarget.value)} placeholder="sk_…" />
        ${error && html`<div class="error" data-testid="sign-in-error">${error}</div>`}
        <button class="primary" type="submit" disabled=${busy || !token.trim()} data-testid="sign-in">Sign in</button>
      </form>
    </div>`;
}

// ---------- app list ----------

function AppList({ client }) {
  const { data: apps, error } = usePoll(() => client.apps(), POLL_MS, [client]);
  return html`
    <h1>Apps</h1>
    <p class="sub">Create one with <code>summon apps:create NAME</code>, then <code>git push</code> to its remote.</p>
    ${error && html`<div class="error">${error.message}</div>`}
    <div class="panel">
      ${apps === null ? html`<div class="empty">Loading…</div>`
        : apps.length === 0 ? html`<div class="empty" data-testid="no-apps">No apps yet.</div>`
          : html`
        <table data-testid="app-list">
          <thead><tr><th>App</th><th>State</th><th>Live release</th><th>Instances (healthy / desired)</th><th>URL</th></tr></thead>
          <tbody>
            ${apps.map((a) => html`
              <tr class="clickable" data-testid="app-row" data-app=${a.name} key=${a.name}
                onClick=${(e) => { if (e.target.tagName !== 'A') location.hash = `#/apps/${a.name}`; }}>
                <td><a href=${`#/apps/${a.name}`} data-testid=${`app-link-${a.name}`}><b>${a.name}</b></a></td>
                <td><${Badge} tone=${APP_TONE[a.state]}>${a.state}</${Badge}></td>
                <td>${a.liveVersion ? `v${a.liveVersion}` : '–'}${a.targetVersion ? html` <span class="sub">→ v${a.targetVersion}</span>` : ''}</td>
                <td data-testid="app-instances">${a.instances.healthy} / ${a.desiredCount}</td>
                <td><a href=${a.url} target="_blank" rel="noreferrer">${a.url}</a></td>
              </tr>`)}
          </tbody>
        </table>`}
    </div>`;
}

// ---------- hosts ----------

const LINK_TONE = { local: 'ok', connected: 'ok', unreachable: 'bad' };

function Hosts({ client }) {
  const { data: hosts, error } = usePoll(() => client.hosts(), POLL_MS, [client]);
  const now = Date.now();
  return html`
    <h1>Hosts</h1>
    <p class="sub">Add one with <code>summon agent</code> on it and <code>summon up --agent ID=URL</code> here.</p>
    ${error && html`<div class="error">${error.message}</div>`}
    <div class="panel">
      ${hosts === null ? html`<div class="empty">Loading…</div>` : html`
        <table data-testid="host-list">
          <thead><tr><th>Host</th><th>Link</th><th>Address</th><th>Instances</th><th>Runtimes</th></tr></thead>
          <tbody>
            ${hosts.map((h) => html`
              <tr key=${h.id} data-testid="host-row" data-host=${h.id} data-link=${h.link}>
                <td><b>${h.id}</b>${h.url ? html`<div class="sub mono">${h.url}</div>` : ''}</td>
                <td><${Badge} tone=${LINK_TONE[h.link]}>${h.link}</${Badge}>
                  <div class="sub">${h.link === 'unreachable' ? `${h.error ?? ''} (${ago(h.since, now)})` : `since ${ago(h.since, now)}`}</div></td>
                <td class="mono">${h.address}</td>
                <td>${h.instances}</td>
                <td>${h.runtimes.map((r) => html`<div title=${r.reason}>${r.target}: ${r.available ? (r.accel ?? 'yes') : 'no'}</div>`)}</td>
              </tr>`)}
          </tbody>
        </table>`}
    </div>`;
}

// ---------- charts ----------

function Chart({ title, testid, points, pick, unit, digits = 1, scale }) {
  const box = useRef(null);
  const plot = useRef(null);
  const now = Date.now();
  const recent = points.filter((p) => p.at >= now - HOUR_MS);
  const xs = recent.map((p) => p.at / 1000);
  const ys = recent.map((p) => { const v = pick(p); return v === null || v === undefined ? null : v; });
  const last = [...ys].reverse().find((v) => v !== null);

  useEffect(() => {
    if (!box.current) return undefined;
    const width = Math.max(200, box.current.clientWidth);
    const opts = {
      width, height: 150,
      legend: { show: false },
      cursor: { y: false },
      scales: { x: { time: true }, y: scale ?? { range: (_u, min, max) => [Math.min(0, min ?? 0), Math.max(1, (max ?? 1) * 1.15)] } },
      axes: [
        { stroke: '#656d76', grid: { stroke: '#eef0f3' }, ticks: { stroke: '#e3e6ea' }, size: 28 },
        { stroke: '#656d76', grid: { stroke: '#eef0f3' }, ticks: { stroke: '#e3e6ea' }, size: 44, values: (_u, vals) => vals.map((v) => `${+v.toFixed(2)}`) },
      ],
      series: [{}, { stroke: '#2f6feb', width: 2, fill: 'rgba(47,111,235,0.08)', spanGaps: true, points: { show: false } }],
    };
    plot.current = new uPlot(opts, [[], []], box.current);
    const ro = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(200, box.current.clientWidth), height: 150 }));
    ro.observe(box.current);
    return () => {
      ro.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, []);
  useEffect(() => {
    plot.current?.setData([xs, ys]);
  }, [points]);

  return html`
    <div class="chart" data-testid=${testid} data-points=${recent.length} data-last=${last ?? ''}>
      <div class="title"><span>${title}</span><b data-testid=${`${testid}-value`}>${last === undefined ? '–' : `${last.toFixed(digits)}${unit}`}</b></div>
      <div ref=${box}></div>
    </div>`;
}

function Charts({ client, name }) {
  const { data } = usePoll(() => client.series(name), POLL_MS, [client, name]);
  const points = data ?? [];
  return html`
    <div class="panel">
      <h2>Last hour <span class="sub" data-testid="chart-points">${points.length} samples</span></h2>
      <div class="grid">
        <${Chart} title="Healthy instances" testid="chart-instances" points=${points} pick=${(p) => p.instances} unit="" digits=${0} />
        <${Chart} title="CPU (average per instance)" testid="chart-cpu" points=${points} pick=${(p) => (p.cpu === null ? null : p.cpu * 100)} unit="%" />
        <${Chart} title="Requests per second" testid="chart-rps" points=${points} pick=${(p) => p.rps} unit="/s" />
        <${Chart} title="p95 latency" testid="chart-p95" points=${points} pick=${(p) => p.p95Ms} unit=" ms" />
      </div>
    </div>`;
}

// ---------- usage and rightsizing ----------

const MIB = 2 ** 20;
const num = (x) => (Math.round(x * 10) / 10).toLocaleString('en-US');

/** Instance-seconds and memory-seconds of the last 7 days (and the cost, with a price set), and
 *  the rightsizing advice from the last day's observations. */
function Economics({ client, name }) {
  const usage = usePoll(() => client.usage({ app: name, since: '7d' }), 5000, [client, name]);
  const advice = usePoll(() => client.advice(name), 5000, [client, name]);
  const u = usage.data;
  const a = advice.data;
  const priced = u && u.pricePerInstanceSecond !== null;
  const total = u?.totals[0];
  return html`
    <div class="panel" data-testid="economics">
      <h2>Usage and rightsizing <span class="sub">last 7 days${priced ? ` · ${u.pricePerInstanceSecond} per instance-second` : ''}</span></h2>
      ${!u ? html`<div class="empty">Loading…</div>` : u.days.length === 0 ? html`<div class="empty" data-testid="usage-none">No instance ran.</div>` : html`
        <table data-testid="usage-list">
          <thead><tr><th>Day (UTC)</th><th>Instance-seconds</th><th>Memory MiB·s</th>${priced && html`<th>Cost</th>`}</tr></thead>
          <tbody>
            ${u.days.map((d) => html`<tr key=${d.day} data-testid="usage-row" data-day=${d.day} data-seconds=${d.instanceSeconds}>
              <td>${d.day}</td><td>${num(d.instanceSeconds)}</td><td>${num(d.memoryMibSeconds)}</td>${priced && html`<td>${d.cost.toFixed(6)}</td>`}</tr>`)}
            ${total && html`<tr data-testid="usage-total"><td><b>total</b></td><td><b>${num(total.instanceSeconds)}</b></td><td><b>${num(total.memoryMibSeconds)}</b></td>${priced && html`<td><b>${total.cost.toFixed(6)}</b></td>`}</tr>`}
          </tbody>
        </table>
        <div class="sub">Memory-seconds: each running instance's [run].memory reservation × its seconds.</div>`}
      <h3>Rightsizing</h3>
      ${!a ? html`<div class="empty">Loading…</div>` : html`
        <div data-testid="advice" data-items=${a.items.length}>
          ${a.items.map((i) => html`<div class="advice" key=${i.key} data-testid="advice-item" data-key=${i.key} data-direction=${i.direction}>
            <b>${i.key === 'run.memory' ? `[run].memory ${(i.from / MIB).toFixed(0)}M → ${(i.to / MIB).toFixed(0)}M` : `[scale].min ${i.from} → ${i.to}`}</b>: ${i.reason}</div>`)}
          ${a.note && html`<div class="sub" data-testid="advice-note">${a.note}</div>`}
          <div class="sub" data-testid="advice-observed">observed ${Math.round(a.observed.windowMs / 60_000)} min, ${a.observed.samples} samples${a.observed.memoryPeakBytes !== null ? `, peak memory ${(a.observed.memoryPeakBytes / MIB).toFixed(1)}M of ${a.current.memoryBytes !== null ? `${(a.current.memoryBytes / MIB).toFixed(0)}M` : '–'} reserved` : ''}${a.observed.cpuAvg !== null ? `, CPU ${(a.observed.cpuAvg * 100).toFixed(1)}% per instance on average` : ''}${a.observed.oomKills ? `, ${a.observed.oomKills} OOM kill(s)` : ''}</div>
        </div>`}
    </div>`;
}

// ---------- releases ----------

function Manifest({ r }) {
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

// The build that made a release, with the log its pusher saw (fetched when the release is opened).
function BuildLog({ client, name, version }) {
  const [state, setState] = useState({ build: null, error: null });
  useEffect(() => {
    let gone = false;
    client.build(name, version).then(
      (build) => { if (!gone) setState({ build, error: null }); },
      (e) => { if (!gone) setState({ build: null, error: e.code === 'not_found' ? 'made without a build (a rollback or a config change)' : e.message }); },
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

function Releases({ client, name, releases }) {
  const [open, setOpen] = useState(null);
  if (!releases) return html`<div class="empty">Loading…</div>`;
  if (!releases.length) return html`<div class="empty">No releases yet: <code>git push</code> to create one.</div>`;
  return html`
    <table data-testid="release-list">
      <thead><tr><th>Release</th><th>Status</th><th>Description</th><th>Commit</th><th>Artifact</th><th>Created</th></tr></thead>
      <tbody>
        ${releases.map((r) => [
          html`<tr class="clickable" key=${`r${r.version}`} data-testid=${`release-v${r.version}`} onClick=${() => setOpen(open === r.version ? null : r.version)}>
            <td><b>v${r.version}</b> <span class="sub">${open === r.version ? '▾' : '▸'}</span></td>
            <td><${Badge} tone=${RELEASE_TONE[r.status]}>${r.status}</${Badge}></td>
            <td>${r.description}${r.reason ? html`<div class="reason">${r.reason}</div>` : ''}</td>
            <td class="mono">${short(r.commit, 7)}</td>
            <td class="mono">${short(r.artifactSha256)}</td>
            <td>${ago(r.createdAt)} ago</td>
          </tr>`,
          open === r.version ? html`<tr key=${`m${r.version}`}><td colspan="6"><${Manifest} r=${r} /><${BuildLog} client=${client} name=${name} version=${r.version} /></td></tr>` : null,
        ])}
      </tbody>
    </table>`;
}

// ---------- instances ----------

function Instances({ instances }) {
  if (!instances) return html`<div class="empty">Loading…</div>`;
  if (!instances.length) return html`<div class="empty" data-testid="no-instances">No instances.</div>`;
  const now = Date.now();
  return html`
    <table data-testid="instance-list">
      <thead><tr><th>Instance</th><th>Release</th><th>State</th><th>Health / reason</th><th>CPU</th><th>Memory</th><th>Uptime</th><th>Restarts</th></tr></thead>
      <tbody>
        ${instances.map((i) => html`
          <tr key=${i.id} data-testid="instance-row" data-instance=${i.id} data-state=${i.state}>
            <td class="mono">${i.id}<div class="sub">${i.host}${i.port ? `:${i.port}` : ''}</div></td>
            <td>v${i.version}</td>
            <td><${Badge} tone=${INSTANCE_TONE[i.state]}>${i.state}</${Badge}></td>
            <td class="reason">${i.reason ?? '–'}${i.state === 'crashed' && i.nextRetryAt ? ` (retry in ${Math.max(0, Math.round((i.nextRetryAt - now) / 1000))}s)` : ''}</td>
            <td>${pct(i.cpu)}</td>
            <td>${mb(i.memoryBytes)}</td>
            <td>${i.startedAt && i.pid ? ago(i.startedAt, now) : '–'}</td>
            <td>${i.restarts}</td>
          </tr>`)}
      </tbody>
    </table>`;
}

// ---------- actions ----------

function Actions({ client, app, releases, onDone }) {
  const [count, setCount] = useState(String(app.desiredCount));
  const [target, setTarget] = useState('');
  const [busy, setBusy] = useState(null);
  const [out, setOut] = useState([]);
  const [error, setError] = useState(null);
  const touched = useRef(false);
  useEffect(() => {
    if (!touched.current) setCount(String(app.desiredCount));
  }, [app.desiredCount]);

  const act = async (what, f) => {
    setBusy(what);
    setError(null);
    setOut([]);
    try {
      const r = await f((l) => setOut((o) => [...o, l]));
      if (r && r.ok === false) setError(r.message ?? `${what} failed`);
      else if (r && r.message) setOut((o) => [...o, r.message]);
    } catch (e) {
      setError(e.message);
    } finally {
      setBusy(null);
      touched.current = false;
      onDone();
    }
  };
  const candidates = (releases ?? []).filter((r) => r.artifactSha256 && r.version !== app.liveVersion && r.status !== 'failed');
  return html`
    <div class="actions">
      <div class="group">
        <label for="scale">Instances</label>
        <input id="scale" type="number" min="0" value=${count} data-testid="scale-input"
          onInput=${(e) => { touched.current = true; setCount(e.currentTarget.value); }} />
        <button class="primary" data-testid="scale-button" disabled=${busy !== null}
          onClick=${() => act('scale', async (line) => {
            const n = Number(count);
            if (!Number.isInteger(n) || n < 0) throw new Error('the instance count must be a whole number ≥ 0');
            const a = await client.scale(app.name, n);
            line(`Scaling ${app.name} to ${a.desiredCount} instance(s).`);
          })}>Scale</button>
      </div>
      <div class="group">
        <select data-testid="rollback-select" value=${target} onChange=${(e) => setTarget(e.currentTarget.value)}>
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
    ${error && html`<div class="error" data-testid="action-error">${error}</div>`}
    ${out.length > 0 && html`<div class="output mono" data-testid="action-output">${out.join('\n')}</div>`}`;
}

// ---------- logs ----------

function LogTail({ client, name }) {
  const [lines, setLines] = useState([]);
  const [status, setStatus] = useState('connecting');
  const box = useRef(null);
  const stick = useRef(true);
  useEffect(() => {
    const ac = new AbortController();
    let pending = [];
    let flush = null;
    const push = (l) => {
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
      clearTimeout(flush);
    };
  }, [client, name]);
  useEffect(() => {
    if (stick.current && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [lines]);
  return html`
    <h2>Logs <span class="sub" data-testid="log-status">${status}</span></h2>
    <div class="logs mono" ref=${box} data-testid="log-tail"
      onScroll=${(e) => { const el = e.currentTarget; stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 30; }}>
      ${lines.map((l) => html`<div key=${l.seq} data-testid="log-line"><span class="t">${new Date(l.at).toISOString().slice(11, 23)}</span> <span class=${l.source === 'summon' ? 's' : 'p'}>${l.source === 'summon' ? `summon[${l.proc}]` : l.proc}</span> ${l.text}</div>`)}
    </div>`;
}

// ---------- app page ----------

function AppPage({ client, name }) {
  const app = usePoll(() => client.app(name), POLL_MS, [client, name]);
  const instances = usePoll(() => client.instances(name), POLL_MS, [client, name]);
  const releases = usePoll(() => client.releases(name), 5000, [client, name]);
  const refresh = useCallback(() => {
    app.refresh();
    instances.refresh();
    releases.refresh();
  }, [app, instances, releases]);
  const a = app.data;
  if (app.error && !a) {
    return html`<div class="crumbs"><a href="#/">← Apps</a></div><div class="error" data-testid="app-error">${app.error.message}</div>`;
  }
  if (!a) return html`<div class="empty">Loading…</div>`;
  return html`
    <div class="crumbs"><a href="#/" data-testid="back">← Apps</a></div>
    <h1 data-testid="app-name">${a.name} <${Badge} tone=${APP_TONE[a.state]} testid="app-state">${a.state}</${Badge}></h1>
    <div class="sub">
      <a href=${a.url} target="_blank" rel="noreferrer">${a.url}</a>
      ${' · '}live ${a.liveVersion ? `v${a.liveVersion}` : '–'}${a.targetVersion ? ` (deploying v${a.targetVersion})` : ''}
      · <span data-testid="app-healthy">${a.instances.healthy}</span> healthy of ${a.desiredCount} desired
      · scale ${a.scale.min}–${a.scale.max} (${a.scalePolicySource})
      · git <code>${a.gitUrl}</code>
    </div>
    <div class="panel"><${Actions} client=${client} app=${a} releases=${releases.data} onDone=${refresh} /></div>
    <${Charts} client=${client} name=${name} />
    <${Economics} client=${client} name=${name} />
    <div class="panel"><h2>Instances</h2><${Instances} instances=${instances.data} /></div>
    <div class="panel"><h2>Releases</h2><${Releases} client=${client} name=${name} releases=${releases.data} /></div>
    <div class="panel"><${LogTail} client=${client} name=${name} /></div>`;
}

// ---------- shell ----------

function Shell() {
  const [token, setToken] = useState(() => session.getItem(TOKEN_KEY));
  const [who, setWho] = useState(null);
  const [message, setMessage] = useState(null);
  const hash = useHash();
  const client = useRef(null);
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
  if (!token) {
    return html`<main><${SignIn} message=${message} onToken=${(t) => { session.setItem(TOKEN_KEY, t); setMessage(null); setToken(t); }} /></main>`;
  }
  const m = /^#\/apps\/([a-z](?:[a-z0-9-]{0,28}[a-z0-9])?)$/.exec(hash);
  return html`
    <header class="top">
      <a class="brand" href="#/">Summon</a>
      <a href="#/">Apps</a>
      ${(!who || who.token.scope === 'admin') && html`<a href="#/hosts" data-testid="nav-hosts">Hosts</a>`}
      <span class="spacer"></span>
      <span class="who" data-testid="who">${who ? `${who.user.email} · ${who.token.scope}${who.token.app ? ` (${who.token.app})` : ''} · ` : ''}${location.host}</span>
      <a href="#/" data-testid="sign-out" onClick=${(e) => { e.preventDefault(); session.removeItem(TOKEN_KEY); setWho(null); setToken(null); }}>Sign out</a>
    </header>
    <main>
      ${m ? html`<${AppPage} key=${m[1]} client=${client.current.c} name=${m[1]} />`
        : hash === '#/hosts' ? html`<${Hosts} client=${client.current.c} />`
          : html`<${AppList} client=${client.current.c} />`}
    </main>`;
}

render(html`<${Shell} />`, document.getElementById('app'));
