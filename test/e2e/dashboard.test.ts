// The dashboard in a real browser (Debian's chromium via playwright-core): sign in with the
// token, find a deployed app, watch its charts update, scale it from the page.
import assert from 'node:assert/strict';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startSummon, type RunningSummon } from '../../src/server.js';
import { SummonClient } from '../../src/sdk/client.js';
import { waitFor } from '../../src/testing/wait.js';
import { ROOT, exampleRepo, push, tempDir, viaRouter } from './harness.js';

const OUT = join(ROOT, 'test-output');
let s: RunningSummon;
let browser: Browser;
let page: Page;
let dataDir: string;
let commit = '';

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
