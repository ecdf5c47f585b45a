// The dashboard in a real browser (Debian's chromium via playwright-core): sign in with the
// token, find a deployed app, watch its charts update, scale it from the page; a failed-only
// app in red with its reason's lines; config vars (set, reveal, unset; names only for a read
// token), the autoscale policy, the events feed, the log filtered and searched; create and
// destroy an app; nothing wider than a 390 px phone or a desktop window (screenshots of both).
import assert from 'node:assert/strict';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startSummon, type RunningSummon } from '../../src/server.js';
import { SummonClient } from '../../src/sdk/client.js';
import { waitFor } from '../../src/testing/wait.js';
import { ROOT, editFile, exampleRepo, push, tempDir, viaRouter } from './harness.js';

const OUT = join(ROOT, 'test-output');
let s: RunningSummon;
let browser: Browser;
let page: Page;
let dataDir: string;
let commit = '';
let brokenReason = '';

before(async () => {
  dataDir = await tempDir('dashboard');
  // A price, so the usage table has a cost column; advice from the first seconds of observations.
  s = await startSummon({ dataDir, apiPort: 0, routerPort: 0, seriesIntervalMs: 500, pricePerInstanceSecond: 0.001, adviceMinWindowMs: 1000 });
  const c = new SummonClient({ api: s.apiUrl, token: s.token });
  await c.createApp('web');
  const repo = await exampleRepo('hello-node');
  const r = await push(s, repo, 'web');
  assert.equal(r.code, 0, `git push failed:\n${r.stdout}\n${r.stderr}`);
  await waitFor(async () => {
    const a = await c.app('web');
    return a.liveVersion === 1 && a.instances.healthy === 1;
  }, { timeoutMs: 60_000, what: 'web v1 live with one healthy instance' });
  commit = (await c.release('web', 1)).commit ?? '';
  // An app whose only push failed: its test printed two lines, which its reason keeps.
  await c.createApp('broken');
  const bad = await exampleRepo('hello-node', (d) => editFile(d, 'summon.toml', (x) => x.replace('test      = "node test.mjs"', 'test      = "echo first line >&2; echo second line >&2; exit 1"')));
  const br = await push(s, bad, 'broken');
  assert.notEqual(br.code, 0, 'the push of a failing test fails');
  const failed = await c.release('broken', 1);
  assert.equal(failed.status, 'failed');
  brokenReason = failed.reason ?? '';
  await mkdir(OUT, { recursive: true });
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  // Anything the Content-Security-Policy blocked (an inline script or style, a foreign origin).
  await page.addInitScript(() => {
    const w = window as unknown as { cspViolations: string[] };
    w.cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => w.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
});

after(async () => {
  await browser?.close();
  await s?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
});

test('the dashboard asks for a token and refuses a wrong one', async () => {
  await page.goto(s.apiUrl);
  await page.getByTestId('token-input').fill('sk_wrong');
  await page.getByTestId('sign-in').click();
  await page.getByTestId('sign-in-error').waitFor({ timeout: 10_000 });
  assert.match(await page.getByTestId('sign-in-error').innerText(), /not valid/);
});

test('sign in, see the app in the list, open it', async () => {
  await page.goto(s.apiUrl);
  await page.getByTestId('token-input').fill(s.token);
  await page.getByTestId('sign-in').click();
  const row = page.locator('[data-testid="app-row"][data-app="web"]');
  await row.waitFor({ timeout: 10_000 });
  assert.match(await row.innerText(), /running/);
  assert.match(await row.innerText(), /v1/);
  assert.match(await row.getByTestId('app-instances').innerText(), /^1 \/ 1$/);
  const shot = join(OUT, 'dashboard-apps.png');
  await page.screenshot({ path: shot, fullPage: true });
  console.log(`screenshot: ${shot}`);
  // the token survives a reload (sessionStorage: this tab's session), and is nowhere else
  await page.reload();
  await row.waitFor({ timeout: 10_000 });
  assert.equal(await page.evaluate(() => sessionStorage.getItem('summon.token')), s.token);
  assert.equal(await page.evaluate(() => localStorage.length), 0, 'nothing in localStorage');
  assert.equal(await page.evaluate(() => document.cookie), '', 'no cookie');
  assert.match(await page.getByTestId('who').innerText(), /admin@localhost · admin/);
  await page.getByTestId('app-link-web').click();
  await page.getByTestId('app-name').waitFor({ timeout: 10_000 });
  assert.match(await page.getByTestId('app-name').innerText(), /web/);
});

test('charts update while traffic flows, and the release expands to its build manifest', async () => {
  const chart = page.getByTestId('chart-rps');
  await chart.waitFor({ timeout: 10_000 });
  const first = Number(await chart.getAttribute('data-points'));
  // traffic through the router so the request-rate chart has something to show
  const routerPort = Number(new URL(s.routerUrl).port);
  let stop = false;
  const load = (async () => {
    while (!stop) await viaRouter({ routerPort }, 'web', '/').catch(() => undefined);
  })();
  try {
    await waitFor(async () => Number(await chart.getAttribute('data-points')) >= first + 3, { timeoutMs: 15_000, what: 'the chart to gain points' });
    await waitFor(async () => Number((await chart.getAttribute('data-last')) || 0) > 0, { timeoutMs: 15_000, what: 'a non-zero request rate on the chart' });
  } finally {
    stop = true;
    await load;
  }
  const last = Number(await chart.getAttribute('data-last'));
  console.log(`chart points: ${first} → ${await chart.getAttribute('data-points')}, last rps ${last}`);
  assert.ok(last > 0);
  assert.ok(Number(await page.getByTestId('chart-p95').getAttribute('data-last')) > 0, 'p95 latency is shown');

  await page.getByTestId('release-v1').click();
  const manifest = page.getByTestId('release-manifest');
  await manifest.waitFor({ timeout: 5000 });
  assert.equal(await page.getByTestId('manifest-commit').innerText(), commit);
  assert.match(await page.getByTestId('manifest-artifact').innerText(), /^[0-9a-f]{64}$/);
  // The build that made it, with the log its push showed, and whether it was verified.
  const build = page.getByTestId('build-log');
  await waitFor(async () => /Build succeeded in [\d.]+s/.test(await build.innerText()), { timeoutMs: 10_000, what: 'the build of v1 in the release' });
  assert.match(await build.innerText(), /-----> Building: node build\.mjs/);
  assert.match(await page.getByTestId('manifest-verified').innerText(), /not yet \(summon releases:verify -a web v1\)/);
  // the live log tail shows the app's console output
  await waitFor(async () => (await page.getByTestId('log-tail').innerText()).includes('GET / 200'), { timeoutMs: 10_000, what: 'request lines in the log tail' });
});

test('the app page shows its usage growing, with the cost, and the rightsizing figures', async () => {
  const row = page.getByTestId('usage-row');
  await row.first().waitFor({ timeout: 15_000 });
  const first = Number(await row.first().getAttribute('data-seconds'));
  await waitFor(async () => Number(await row.first().getAttribute('data-seconds')) > first, { timeoutMs: 20_000, what: `the instance-seconds to grow past ${first}` });
  const text = await page.getByTestId('usage-list').innerText();
  assert.match(text, /cost/i);
  assert.match(text, /^total\t/m);
  const seconds = Number(await row.first().getAttribute('data-seconds'));
  const cells = (await row.first().innerText()).split(/\t|\n/).map((c) => c.trim()).filter(Boolean);
  // day, instance-seconds, memory MiB·s (128M reserved × seconds), cost (× 0.001)
  assert.ok(Math.abs(Number(cells[3]) - seconds * 0.001) < 0.01, `cost ${cells[3]} for ${seconds} s`);
  assert.ok(Math.abs(Number(cells[2].replaceAll(',', '')) / Number(cells[1].replaceAll(',', '')) - 128) < 1, `memory-seconds ${cells[2]} = 128 × ${cells[1]}`);
  const observed = page.getByTestId('advice-observed');
  await waitFor(async () => /peak memory [\d.]+M of 128M reserved/.test(await observed.innerText()), { timeoutMs: 15_000, what: 'the observed peak memory' });
  // Either an item (with what to set) or a note saying why there is none.
  const advice = page.getByTestId('advice');
  const items = Number(await advice.getAttribute('data-items'));
  if (items > 0) assert.match(await page.getByTestId('advice-item').first().innerText(), /set \[(run|scale)\]\.(memory|min) = /);
  else assert.match(await page.getByTestId('advice-note').innerText(), /no change suggested|not enough observed/);
  console.log(`usage ${seconds} instance-seconds; advice: ${(await advice.innerText()).replaceAll('\n', ' | ')}`);
});

test('scale to 2 from the page: the new instance appears in the instance table', async () => {
  const rows = page.getByTestId('instance-row');
  assert.equal(await rows.count(), 1);
  await page.getByTestId('scale-input').fill('2');
  await page.getByTestId('scale-button').click();
  await waitFor(async () => (await page.locator('[data-testid="instance-row"][data-state="healthy"]').count()) === 2,
    { timeoutMs: 30_000, what: 'two healthy instances in the table' });
  assert.equal(await page.getByTestId('app-healthy').innerText(), '2');
  await waitFor(async () => Number(await page.getByTestId('chart-instances').getAttribute('data-last')) === 2,
    { timeoutMs: 10_000, what: 'the instance chart to show 2' });
  const shot = join(OUT, 'dashboard-app.png');
  await page.screenshot({ path: shot, fullPage: true });
  console.log(`screenshot: ${shot}`);
});

test('the hosts page lists this host, its link and its runtimes', async () => {
  await page.getByTestId('nav-hosts').click();
  const row = page.locator('[data-testid="host-row"]');
  await row.first().waitFor({ timeout: 5000 });
  assert.equal(await row.count(), 1);
  assert.equal(await row.first().getAttribute('data-link'), 'local');
  const text = await row.first().innerText();
  assert.match(text, /process: yes/);
  assert.match(text, /\b2\b/); // the two instances scaled above
  // The control plane: with SQLite, the one node and its store.
  const store = page.getByTestId('cluster-store');
  await store.waitFor({ timeout: 5000 });
  assert.match(await store.innerText(), /^sqlite:.*summon\.db$/);
  assert.match(await page.getByTestId('cluster-leader').innerText(), /One node \(.+\) reconciles: several need a postgres:\/\/ store/);
});

test('a failed-only app is red in the list and on its page, and its failure reason keeps its lines', async () => {
  assert.match(brokenReason, /first line\n\s*second line/, `the reason as stored: ${JSON.stringify(brokenReason)}`);
  await page.goto(`${s.apiUrl}/#/`);
  const row = page.locator('[data-testid="app-row"][data-app="broken"]');
  await row.waitFor({ timeout: 10_000 });
  const badge = row.getByTestId('app-row-state');
  await waitFor(async () => (await badge.innerText()) === 'failed', { timeoutMs: 10_000, what: 'the failed badge of broken' });
  assert.match(await badge.getAttribute('class') ?? '', /\bbad\b/, 'red, not grey');
  await page.getByTestId('app-link-broken').click();
  const state = page.getByTestId('app-state');
  await waitFor(async () => (await state.innerText()) === 'failed', { timeoutMs: 10_000, what: 'the failed badge on the page of broken' });
  assert.match(await state.getAttribute('class') ?? '', /\bbad\b/);
  const reason = page.getByTestId('release-reason');
  await reason.waitFor({ timeout: 10_000 });
  const lines = (await reason.innerText()).split('\n').map((l) => l.trim());
  assert.ok(lines.includes('first line') && lines.includes('second line'), `the reason's lines as shown: ${JSON.stringify(lines)}`);
  // its build log, with the test's output
  await page.getByTestId('release-v1').click();
  const build = page.getByTestId('build-log');
  await waitFor(async () => /Build failed/.test(await build.innerText()), { timeoutMs: 10_000, what: 'the failed build of broken v1' });
  assert.match(await build.innerText(), /second line/);
});

test('the app page: " · " between its facts, memory in MiB, and the span its chart samples cover', async () => {
  await page.goto(`${s.apiUrl}/#/apps/web`);
  const meta = page.getByTestId('app-meta');
  await meta.waitFor({ timeout: 10_000 });
  const text = await meta.innerText();
  assert.match(text, /live v1 · \d+ healthy of \d+ desired · scale \d+–\d+ \(manifest\) · git /, text);
  assert.doesNotMatch(text, /\S·|·\S/, `every · has a space either side: ${text}`);
  const mem = page.getByTestId('instance-memory').first();
  await waitFor(async () => /MiB$/.test(await mem.innerText()), { timeoutMs: 10_000, what: 'an instance memory figure' });
  const bytesShown = Number(await mem.getAttribute('data-bytes'));
  assert.equal(await mem.innerText(), `${(bytesShown / 2 ** 20).toFixed(1)} MiB`, 'the figure is MiB (2^20 bytes) and says so');
  const spanEl = page.getByTestId('chart-span');
  await waitFor(async () => /^Last /.test(await spanEl.innerText()), { timeoutMs: 10_000, what: 'the chart heading' });
  const heading = await spanEl.innerText();
  // the span from the oldest sample the page has (the SDK's oldest) to when it drew the heading
  const first = Number(await spanEl.getAttribute('data-first'));
  const oldest = Math.min(...(await new SummonClient({ api: s.apiUrl, token: s.token }).series('web')).map((p) => p.at));
  assert.equal(first, oldest, 'the span starts at the oldest sample');
  const covered = (Number(await spanEl.getAttribute('data-now')) - first) / 1000;
  assert.notEqual(heading, 'Last hour', `${covered.toFixed(0)} s of samples`);
  const m = /^Last (\d+) (s|min)$/.exec(heading);
  assert.ok(m, heading);
  const said = Number(m[1]) * (m[2] === 'min' ? 60 : 1);
  assert.ok(Math.abs(said - covered) <= (m[2] === 'min' ? 30 : 0.5), `"${heading}" for ${covered.toFixed(1)} s of samples`);
  assert.ok(covered < 3000, 'less than an hour of samples, so not "Last hour"');
});

test('config vars: set one (its rollout shown), reveal it, unset it; a bad name is refused before any request', async () => {
  const c = new SummonClient({ api: s.apiUrl, token: s.token });
  const before = (await c.app('web')).liveVersion ?? 0;
  await page.getByTestId('config-key').fill('1BAD');
  await page.getByTestId('config-new-value').fill('x');
  await page.getByTestId('config-set').click();
  await page.getByTestId('config-error').waitFor({ timeout: 5000 });
  assert.match(await page.getByTestId('config-error').innerText(), /"1BAD" is not a config var name/);
  assert.equal((await c.app('web')).liveVersion, before, 'no release made');

  for (const [k, v] of [['GREETING', 'hello there'], ['KEEP', 'kept']] as const) {
    await page.getByTestId('config-key').fill(k);
    await page.getByTestId('config-new-value').fill(v);
    await page.getByTestId('config-set').click();
    const out = page.getByTestId('config-output');
    await waitFor(async () => (await out.count()) > 0 && /v\d+/.test(await out.innerText()) && (await page.getByTestId('config-busy').count()) === 0,
      { timeoutMs: 60_000, what: `the rollout of ${k}` });
    console.log(`config set ${k}: ${(await out.innerText()).replaceAll('\n', ' | ')}`);
    await page.locator(`[data-testid="config-row"][data-key="${k}"]`).waitFor({ timeout: 10_000 });
  }
  assert.equal((await c.config('web')).GREETING, 'hello there');
  assert.ok(((await c.app('web')).liveVersion ?? 0) >= before + 2, 'each change is a release, rolled out');
  const value = page.locator('[data-testid="config-row"][data-key="GREETING"] [data-testid="config-value"]');
  assert.equal(await value.innerText(), '••••••', 'values hidden until revealed');
  await page.getByTestId('config-reveal').click();
  assert.equal(await value.innerText(), 'hello there');
  await page.locator('[data-testid="config-row"][data-key="GREETING"] [data-testid="config-unset"]').click();
  await waitFor(async () => (await page.locator('[data-testid="config-row"][data-key="GREETING"]').count()) === 0 && (await page.getByTestId('config-busy').count()) === 0,
    { timeoutMs: 60_000, what: 'GREETING gone from the table' });
  assert.deepEqual(await c.config('web'), { KEEP: 'kept' });
});

test('a read token sees the config var names but not their values, and no forms to change anything', async () => {
  const c = new SummonClient({ api: s.apiUrl, token: s.token });
  const read = await c.createToken({ scope: 'read', name: 'dashboard-read' });
  const other = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
  try {
    await other.goto(s.apiUrl);
    await other.getByTestId('token-input').fill(read.token);
    await other.getByTestId('sign-in').click();
    await other.locator('[data-testid="app-row"][data-app="web"]').waitFor({ timeout: 10_000 });
    assert.equal(await other.getByTestId('create-app').count(), 0, 'only an admin creates apps');
    await other.getByTestId('app-link-web').click();
    await other.getByTestId('config-hidden').waitFor({ timeout: 10_000 });
    const row = other.locator('[data-testid="config-row"][data-key="KEEP"]');
    await row.waitFor({ timeout: 10_000 });
    assert.equal(await row.getByTestId('config-value').innerText(), '(hidden)');
    assert.doesNotMatch(await other.getByTestId('config').innerText(), /kept/);
    await other.getByTestId('autoscale-policy').waitFor({ timeout: 5000 });
    await other.getByTestId('read-only').waitFor({ timeout: 5000 });
    for (const id of ['scale-button', 'restart-button', 'config-key', 'config-unset', 'autoscale-save', 'destroy-button']) assert.equal(await other.getByTestId(id).count(), 0, `no ${id}`);
  } finally {
    await other.close();
  }
});

test('the autoscale policy is shown and changed from the page', async () => {
  const c = new SummonClient({ api: s.apiUrl, token: s.token });
  const policy = page.getByTestId('autoscale-policy');
  assert.equal(await policy.getAttribute('data-source'), 'manifest');
  assert.equal(await page.getByTestId('autoscale-max').innerText(), '4');
  assert.equal(await page.getByTestId('autoscale-target').innerText(), '80% per instance');
  await page.getByTestId('autoscale-cpu-input').fill('lots');
  await page.getByTestId('autoscale-save').click();
  await page.getByTestId('autoscale-error').waitFor({ timeout: 5000 });
  assert.match(await page.getByTestId('autoscale-error').innerText(), /percentage/);
  await page.getByTestId('autoscale-min-input').fill('1');
  await page.getByTestId('autoscale-max-input').fill('3');
  await page.getByTestId('autoscale-cpu-input').fill('50');
  await page.getByTestId('autoscale-save').click();
  await page.getByTestId('autoscale-output').waitFor({ timeout: 10_000 });
  assert.match(await page.getByTestId('autoscale-output').innerText(), /between 1 and 3 instance\(s\), target CPU 50%/);
  await waitFor(async () => (await policy.getAttribute('data-source')) === 'autoscale' && (await page.getByTestId('autoscale-target').innerText()) === '50% per instance',
    { timeoutMs: 10_000, what: 'the new policy on the page' });
  assert.match(await page.getByTestId('app-meta').innerText(), /scale 1–3 \(autoscale\)/);
  const a = await c.app('web');
  assert.deepEqual([a.scale.min, a.scale.max, a.scale.targetCpu, a.scalePolicySource], [1, 3, 0.5, 'autoscale']);
});

test('the events feed shows the newest first and gains new events without a reload', async () => {
  const c = new SummonClient({ api: s.apiUrl, token: s.token });
  const rows = page.getByTestId('event-row');
  await rows.first().waitFor({ timeout: 10_000 });
  const newest = async () => Math.max(...(await c.events('web', { limit: 200 })).map((e) => e.id));
  await waitFor(async () => Number(await rows.first().getAttribute('data-id')) === await newest(), { timeoutMs: 10_000, what: 'the newest event first' });
  const ids = await rows.evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-id'))));
  assert.deepEqual(ids, [...ids].sort((a, b) => b - a), 'newest first');
  const types = await rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-type')));
  assert.ok(types.includes('release.live'), `the config releases went live: ${types.join(', ')}`);
  // a new event (a restart's, from the page's button) appears without reloading the page
  const top = Number(await rows.first().getAttribute('data-id'));
  await page.getByTestId('restart-button').click();
  const out = page.getByTestId('action-output');
  await waitFor(async () => (await out.count()) > 0 && (await page.getByTestId('action-busy').count()) === 0, { timeoutMs: 60_000, what: 'the restart to finish' });
  const said = (await out.innerText()).split('\n').map((l) => l.trim()).filter(Boolean);
  console.log(`restart: ${said.join(' | ')}`);
  assert.equal(await page.getByTestId('action-error').count(), 0);
  assert.ok(!said.slice(1).some((l, i) => said[i]!.endsWith(l)), `the result is not said twice: ${said.join(' | ')}`);
  await waitFor(async () => Number(await rows.first().getAttribute('data-id')) > top, { timeoutMs: 30_000, what: 'a new event at the top of the feed' });
});

test('the log is filtered by source and by instance (on the server) and searched', async () => {
  const routerPort = Number(new URL(s.routerUrl).port);
  let stop = false;
  const load = (async () => {
    while (!stop) await viaRouter({ routerPort }, 'web', '/').catch(() => undefined);
  })();
  try {
    const lines = page.getByTestId('log-line');
    const all = (attr: string, value: string) => lines.evaluateAll((els, [a, v]) => els.length > 0 && els.every((e) => e.getAttribute(a!) === v), [attr, value]);
    await page.getByTestId('log-source').selectOption('summon');
    await waitFor(() => all('data-source', 'summon'), { timeoutMs: 15_000, what: 'only summon lines' });
    // the instance that served a request (the router may send them all to one)
    await page.getByTestId('log-source').selectOption('app');
    const served = page.locator('[data-testid="log-line"][data-source="app"]', { hasText: 'GET / 200' });
    await served.first().waitFor({ timeout: 20_000 });
    const instance = await served.last().getAttribute('data-proc');
    assert.ok(instance);
    await page.getByTestId('log-instance').selectOption(instance);
    await waitFor(async () => await all('data-source', 'app') && await all('data-proc', instance), { timeoutMs: 20_000, what: `only app lines of ${instance}` });
    await page.getByTestId('log-search').fill('GET / 200');
    await waitFor(async () => (await lines.count()) > 0, { timeoutMs: 10_000, what: 'lines matching the search' });
    const texts = await lines.allInnerTexts();
    assert.ok(texts.every((t) => t.includes('GET / 200')), texts.join('\n'));
    assert.match(await page.getByTestId('log-count').innerText(), /^\d+ of \d+ lines$/);
    await page.getByTestId('log-search').fill('no line says this');
    await waitFor(async () => (await lines.count()) === 0, { timeoutMs: 5000, what: 'no line for a search that matches none' });
    assert.match(await page.getByTestId('log-count').innerText(), /^0 of \d+ lines$/);
    await page.getByTestId('log-search').fill('');
    await page.getByTestId('log-source').selectOption('');
    await page.getByTestId('log-instance').selectOption('');
  } finally {
    stop = true;
    await load;
  }
});

test('an admin creates an app from the list and destroys it after typing its name', async () => {
  const c = new SummonClient({ api: s.apiUrl, token: s.token });
  await page.goto(`${s.apiUrl}/#/`);
  await page.getByTestId('create-app-name').fill('Bad_Name');
  await page.getByTestId('create-app-button').click();
  await page.getByTestId('create-app-error').waitFor({ timeout: 5000 });
  assert.match(await page.getByTestId('create-app-error').innerText(), /"Bad_Name" is not an app name: names are 1 to 30 lower-case/);
  await page.getByTestId('create-app-name').fill('scratch');
  await page.getByTestId('create-app-button').click();
  await waitFor(async () => (await page.getByTestId('app-name').count()) > 0 && /^scratch/.test(await page.getByTestId('app-name').innerText()),
    { timeoutMs: 10_000, what: 'the new app\'s page' });
  assert.ok((await c.apps()).some((a) => a.name === 'scratch'));
  const button = page.getByTestId('destroy-button');
  assert.equal(await button.isDisabled(), true, 'disabled until the name is typed');
  await page.getByTestId('destroy-input').fill('scratc');
  assert.equal(await button.isDisabled(), true);
  await page.getByTestId('destroy-input').fill('scratch');
  assert.equal(await button.isDisabled(), false);
  await button.click();
  await waitFor(async () => (await page.evaluate(() => location.hash)) === '#/', { timeoutMs: 10_000, what: 'back to the app list' });
  await page.locator('[data-testid="app-row"][data-app="web"]').waitFor({ timeout: 10_000 });
  assert.equal(await page.locator('[data-testid="app-row"][data-app="scratch"]').count(), 0);
  assert.ok(!(await c.apps()).some((a) => a.name === 'scratch'), 'destroyed');
});

test('nothing is wider than the window at 390 px (a phone) or at desktop width: screenshots of both', async () => {
  const pages: [string, string, () => Promise<void>][] = [
    ['apps', '#/', () => page.locator('[data-testid="app-row"][data-app="web"]').waitFor({ timeout: 10_000 })],
    ['app', '#/apps/web', async () => {
      await page.getByTestId('release-v1').click();
      await page.getByTestId('release-manifest').waitFor({ timeout: 10_000 });
      await page.getByTestId('event-row').first().waitFor({ timeout: 10_000 });
      await page.getByTestId('config-row').first().waitFor({ timeout: 10_000 });
    }],
    ['failed', '#/apps/broken', () => page.getByTestId('release-reason').waitFor({ timeout: 10_000 })],
    ['hosts', '#/hosts', () => page.getByTestId('host-row').first().waitFor({ timeout: 10_000 })],
  ];
  for (const [width, height] of [[390, 844], [1280, 900]] as const) {
    await page.setViewportSize({ width, height });
    for (const [label, hash, ready] of pages) {
      await page.goto(`${s.apiUrl}/${hash}`);
      await page.reload();
      await ready();
      const m = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, body: document.body.scrollWidth, inner: window.innerWidth }));
      const shot = join(OUT, `dashboard-${label}-${width}.png`);
      await page.screenshot({ path: shot, fullPage: true });
      console.log(`${label} at ${width} px: scrollWidth ${m.scroll} (body ${m.body}), window ${m.inner}; screenshot: ${shot}`);
      assert.ok(m.scroll <= m.inner && m.body <= m.inner, `${label} at ${width} px overflows: ${JSON.stringify(m)}`);
      // and no element pokes out past the right edge (a table, a long URL, a pre)
      const wide = await page.evaluate(() => [...document.querySelectorAll('body *')]
        .filter((e) => !e.closest('.table-wrap, .logs, .output, .feed') && e.getBoundingClientRect().right > window.innerWidth + 0.5)
        .slice(0, 5).map((e) => `${e.tagName.toLowerCase()}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`));
      assert.deepEqual(wide, [], `${label} at ${width} px: elements past the right edge`);
    }
  }
  await page.setViewportSize({ width: 1280, height: 1100 });
});

test('sign out forgets the token', async () => {
  await page.getByTestId('sign-out').click();
  await page.getByTestId('token-input').waitFor({ timeout: 5000 });
  assert.equal(await page.evaluate(() => sessionStorage.getItem('summon.token')), null);
  assert.equal(await page.evaluate(() => localStorage.getItem('summon.token')), null);
});

test('a new tab (another session) is not signed in', async () => {
  const other = await browser.newPage();
  try {
    await other.goto(s.apiUrl);
    await other.getByTestId('token-input').waitFor({ timeout: 10_000 });
  } finally {
    await other.close();
  }
});

test('the page and the API are served with a CSP, no framing and no sniffing; nothing was blocked', async () => {
  for (const path of ['/', '/api/apps', '/assets/main.js', '/nowhere']) {
    const res = await fetch(`${s.apiUrl}${path}`, { headers: { authorization: `Bearer ${s.token}` } });
    const csp = res.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'self'/, path);
    assert.match(csp, /script-src 'self'(;|$)/, `${path}: no 'unsafe-inline' script`);
    assert.match(csp, /frame-ancestors 'none'/, path);
    assert.equal(res.headers.get('x-frame-options'), 'DENY', path);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff', path);
  }
  const html = await (await fetch(s.apiUrl)).text();
  assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script in the page');
  assert.deepEqual(await page.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations), []);
});
