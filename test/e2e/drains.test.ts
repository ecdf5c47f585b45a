// Log drains end to end: a real Summon, a pushed app printing lines, and real receivers started
// by this test: Debian's rsyslogd (its own child process, a config written here: imtcp on a
// loopback port, every message to a file) for syslog://, a node:tls receiver that parses
// octet-counted frames for syslog+tls:// (rsyslog's TLS driver, rsyslog-gnutls, is not
// installed on these machines: `ls /usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so`; where it
// is, rsyslog could take this role too), and a node:https endpoint, both with a certificate
// from a private CA made here with openssl that Summon is told to trust (`--drain-ca`).
// Receivers are killed mid-stream and restarted; the buffer is overflowed while they are down.
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { main } from '../../src/cli/main.js';
import { startSummon, type RunningSummon } from '../../src/server.js';
import { SummonClient, type DrainView } from '../../src/sdk/client.js';
import { startHttpsReceiver, startSyslogReceiver, type HttpsReceiver, type SyslogReceiver } from '../../src/testing/drain-receivers.js';
import { startRsyslog, type Rsyslog } from '../../src/testing/rsyslog.js';
import { makeTestCerts, type TestCerts } from '../../src/testing/test-certs.js';
import { httpGet, waitFor } from '../../src/testing/wait.js';
import { commitAll, git, push, tempDir } from './harness.js';

const APP = 'drained';
const BUFFER_LINES = 5000;

// On GET /spew?tag=T&n=N&batch=B&every=MS the app prints N lines "T 0" … "T N-1", B every MS
// milliseconds, and answers at once; GET /spewed?tag=T says whether it has finished.
const SPEW = `#!/usr/bin/env node
import http from 'node:http';
const done = new Set();
const i = process.argv.indexOf('--port');
http.createServer((req, res) => {
  const u = new URL(req.url, 'http://x');
  const tag = u.searchParams.get('tag');
  if (u.pathname === '/spew') {
    const n = Number(u.searchParams.get('n')), batch = Number(u.searchParams.get('batch')), every = Number(u.searchParams.get('every'));
    let k = 0;
    const t = setInterval(() => {
      for (let j = 0; j < batch && k < n; j++) console.log(tag + ' ' + k++);
      if (k >= n) { clearInterval(t); done.add(tag); }
    }, every);
    res.writeHead(202).end('spewing\\n');
  } else if (u.pathname === '/spewed') {
    res.end(done.has(tag) ? 'yes' : 'no');
  } else res.end('ok\\n');
}).listen(Number(process.argv[i + 1]), '127.0.0.1', () => console.log('spew listening'));
`;
const TOML = `[build]
artifact = "spew.mjs"

[run]
target = "process"
args = ["--port", "{port}"]

[scale]
min = 1
max = 1
`;

let dir: string;
let certs: TestCerts;
let rsyslog: Rsyslog;
let tlsRx: SyslogReceiver;
let httpsRx: HttpsReceiver;
let s: RunningSummon;
let c: SummonClient;
let io: { out: (x: string) => void; err: (x: string) => void; env: NodeJS.ProcessEnv };
const out: string[] = [];
let instanceId = '';

async function cli(...args: string[]): Promise<{ code: number; text: string }> {
  out.length = 0;
  const code = await main(['node', 'summon', ...args], io);
  return { code, text: out.join('\n') };
}

async function drainsJson(): Promise<DrainView[]> {
  const r = await cli('drains', '-a', APP, '--json');
  assert.equal(r.code, 0, r.text);
  return JSON.parse(r.text) as DrainView[];
}

/** Lines of the app's own output with this tag, as each receiver has them. */
const atRsyslog = async (tag: string) => new Set((await rsyslog.received()).filter((m) => m.msgid === 'app' && m.msg.startsWith(`${tag} `)).map((m) => m.msg));
const atTls = (tag: string) => new Set(tlsRx.messages.filter((m) => m.msgId === 'app' && m.msg.startsWith(`${tag} `)).map((m) => m.msg));
const atHttps = (tag: string) => new Set(httpsRx.lines.filter((l) => l.source === 'app' && l.text.startsWith(`${tag} `)).map((l) => l.text));
const inLog = (tag: string) => s.logs.query(APP, { source: 'app' }).filter((l) => l.text.startsWith(`${tag} `)).length;
const range = (tag: string, from: number, to: number) => Array.from({ length: to - from }, (_, i) => `${tag} ${from + i}`);

async function spew(tag: string, n: number, batch: number, every: number): Promise<void> {
  const r = await httpGet(`${s.routerUrl}/spew?tag=${tag}&n=${n}&batch=${batch}&every=${every}`, { headers: { host: `${APP}.localhost` } });
  assert.equal(r.status, 202, r.body);
}

async function allDown(): Promise<void> {
  await rsyslog.kill();
  await tlsRx.stop();
  await httpsRx.stop();
}

async function allUp(): Promise<void> {
  await rsyslog.start();
  await tlsRx.start();
  await httpsRx.start();
}

before(async () => {
  dir = await tempDir('drains');
  certs = await makeTestCerts(dir);
  await mkdir(join(dir, 'rsyslog'));
  rsyslog = await startRsyslog(join(dir, 'rsyslog'));
  tlsRx = await startSyslogReceiver({ tls: { cert: certs.cert, key: certs.key } });
  httpsRx = await startHttpsReceiver({ cert: certs.cert, key: certs.key });
  s = await startSummon({
    dataDir: join(dir, 'data'), apiPort: 0, routerPort: 0,
    // the receivers are on loopback, which drains may only reach when the operator says so
    drains: { allowPrivate: true, ca: certs.ca, bufferLines: BUFFER_LINES, retryBaseMs: 50, retryMaxMs: 500, dropReportMs: 500, flushMs: 50 },
  });
  c = new SummonClient({ api: s.apiUrl, token: s.token });
  io = { out: (x) => out.push(x), err: (x) => out.push(x), env: { ...process.env, SUMMON_API: s.apiUrl, SUMMON_TOKEN: s.token, XDG_CONFIG_HOME: dir } };
  await c.createApp(APP);
});

after(async () => {
  await s?.stop();
  await rsyslog?.stop();
  await tlsRx?.stop();
  await httpsRx?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('drain URLs are checked at add time, saying what to write', async () => {
  const refused = async (url: string, re: RegExp) => {
    const r = await cli('drains:add', '-a', APP, url);
    assert.equal(r.code, 2, `${url}: ${r.text}`);
    assert.match(r.text, re, url);
  };
  await refused('ftp://logs.example.com/x', /ftp: is not syslog:, syslog\+tls: or https:/);
  await refused('http://logs.example.com/x', /use https:\/\//);
  await refused('syslog+tls://user:pw@logs.example.com:6514', /user name or password/);
  await refused('syslog+tls://logs.example.com', /needs a port/);
  await refused('syslog://bad_host-.example.com:514', /is not a host name/);
  await assert.rejects(c.addDrain('nope', 'syslog://logs.example.com:514'), /app "nope" not found/);
  assert.deepEqual(await c.drains(APP), []);

  // without --drains-allow-private, loopback and metadata receivers are refused
  const strictDir = join(dir, 'strict');
  const strict = await startSummon({ dataDir: strictDir, apiPort: 0, routerPort: 0 });
  try {
    const sc = new SummonClient({ api: strict.apiUrl, token: strict.token });
    await sc.createApp('strict');
    await assert.rejects(sc.addDrain('strict', `syslog://127.0.0.1:${rsyslog.port}`),
      /drain URL syslog:\/\/127\.0\.0\.1:\d+ is refused: 127\.0\.0\.1 is a loopback address; summon up --drains-allow-private allows it/);
    await assert.rejects(sc.addDrain('strict', 'https://169.254.169.254/latest'), /the cloud metadata address/);
    assert.deepEqual(await sc.drains('strict'), []);
  } finally {
    await strict.stop();
  }
});

test('app and Summon lines reach rsyslog, the TLS receiver and the HTTPS endpoint, with instance ids and times', async () => {
  for (const url of [`syslog://127.0.0.1:${rsyslog.port}`, `syslog+tls://127.0.0.1:${tlsRx.port}`, httpsRx.url]) {
    const r = await cli('drains:add', '-a', APP, url);
    assert.equal(r.code, 0, r.text);
    assert.match(r.text, /^Added drain drn-[0-9a-f]{10} → /);
  }
  const dup = await cli('drains:add', '-a', APP, `syslog://127.0.0.1:${rsyslog.port}`);
  assert.equal(dup.code, 6, 'the same URL twice is a conflict');
  assert.match(dup.text, /already drains to/);

  const repo = await tempDir('drains-app');
  await writeFile(join(repo, 'spew.mjs'), SPEW, { mode: 0o755 });
  await writeFile(join(repo, 'summon.toml'), TOML);
  await git(repo, 'init', '-q', '-b', 'main');
  await commitAll(repo, 'spew');
  const pushed = await push(s, repo, APP);
  assert.equal(pushed.code, 0, `git push failed:\n${pushed.stdout}\n${pushed.stderr}`);
  await rm(repo, { recursive: true, force: true });
  await waitFor(async () => (await c.app(APP)).instances.healthy === 1, { timeoutMs: 30_000, what: 'the app healthy' });
  instanceId = (await c.instances(APP))[0].id;

  await spew('hello', 10, 10, 1);
  await waitFor(async () => (await atRsyslog('hello')).size === 10 && atTls('hello').size === 10 && atHttps('hello').size === 10,
    { timeoutMs: 15_000, what: 'the lines at all three receivers' });

  const logged = s.logs.query(APP).find((l) => l.text === 'hello 3')!;
  const viaRsyslog = (await rsyslog.received()).find((m) => m.msg === 'hello 3')!;
  assert.deepEqual([viaRsyslog.app, viaRsyslog.procid, viaRsyslog.msgid], [APP, instanceId, 'app']);
  assert.equal(Date.parse(viaRsyslog.timestamp), logged.at, 'the time the line happened, to the millisecond');
  const viaTls = tlsRx.messages.find((m) => m.msg === 'hello 3')!;
  assert.deepEqual([viaTls.appName, viaTls.procId, viaTls.msgId, Date.parse(viaTls.timestamp)], [APP, instanceId, 'app', logged.at]);
  const viaHttps = httpsRx.lines.find((l) => l.text === 'hello 3')!;
  assert.deepEqual([viaHttps.app, viaHttps.instance, viaHttps.at], [APP, instanceId, logged.at]);

  // Summon's own lines about the app: the build and the release, as "summon"
  const live = (await rsyslog.received()).find((m) => m.msgid === 'summon' && /v1 is live/.test(m.msg));
  assert.ok(live, `a release line at rsyslog; got ${JSON.stringify((await rsyslog.received()).filter((m) => m.msgid === 'summon').map((m) => m.msg))}`);
  assert.equal(live.procid, 'summon');
  assert.match(live.sd, /^\[summon@32473 component="release"\]$/);
  assert.ok(tlsRx.messages.some((m) => m.procId === 'summon' && /v1 is live/.test(m.msg)));
  assert.ok(httpsRx.lines.some((l) => l.source === 'summon' && l.component === 'release' && /v1 is live/.test(l.text)));

  const list = await drainsJson();
  assert.equal(list.length, 3);
  for (const d of list) {
    assert.equal(d.status?.state, 'up', `${d.url}: ${JSON.stringify(d.status)}`);
    assert.equal(d.status?.dropped, 0);
  }
  const text = await cli('drains', '-a', APP);
  assert.match(text.text, /^ID\s+URL\s+STATE\s+BUFFERED\s+DELIVERED\s+DROPPED\s+ERROR$/m);
  assert.match(text.text, /syslog\+tls:\/\/127\.0\.0\.1:\d+\s+up /);
});

test('receivers killed mid-stream and restarted: every line within the buffer arrives', async (t) => {
  await spew('mid', 3000, 20, 5); // about 750 ms of output
  await waitFor(async () => (await atRsyslog('mid')).size >= 300, { timeoutMs: 15_000, what: 'the stream under way at rsyslog' });
  await allDown(); // rsyslog by SIGKILL: whatever it held in memory is gone
  const seenBeforeKill = (await atRsyslog('mid')).size;
  await waitFor(() => inLog('mid') === 3000, { timeoutMs: 15_000, what: 'the app to finish printing' });
  assert.ok(seenBeforeKill < 3000, `killed mid-stream (rsyslog had ${seenBeforeKill} of 3000)`);
  const down = await waitFor(async () => {
    const l = await drainsJson();
    return l.every((d) => d.status?.state === 'down') ? l : null;
  }, { timeoutMs: 10_000, what: 'every drain to notice its receiver is gone' });
  for (const d of down) assert.ok(d.status!.lastError, `${d.url} says why`);
  const text = await cli('drains', '-a', APP);
  assert.match(text.text, /down .*refused the connection \(is the receiver running\?\)/);

  await allUp();
  await waitFor(async () => (await atRsyslog('mid')).size === 3000 && atTls('mid').size === 3000 && atHttps('mid').size === 3000,
    { timeoutMs: 30_000, what: 'all 3000 lines at every receiver after the restart' });
  for (const d of await drainsJson()) assert.equal(d.status?.dropped, 0, `${d.url} dropped nothing`);
  const copies = (await rsyslog.received()).filter((m) => m.msgid === 'app' && m.msg.startsWith('mid ')).length;
  t.diagnostic(`rsyslog had ${seenBeforeKill} of 3000 lines when it was killed; after its restart all 3000 (${copies - 3000} received twice: resent after the break)`);
  const evs = await c.events(APP, { limit: 200 });
  assert.ok(evs.some((e) => e.type === 'drain.down') && evs.some((e) => e.type === 'drain.up'), 'the outage is in the events');
});

test('overflow while the receivers are down: the drop count is reported and the newest lines arrive', async (t) => {
  await allDown();
  await waitFor(async () => (await drainsJson()).every((d) => d.status?.state === 'down'), { timeoutMs: 10_000, what: 'the drains down' });
  const N = 12_000;
  await spew('over', N, 500, 1);
  await waitFor(() => inLog('over') === N, { timeoutMs: 15_000, what: 'the app to finish printing' });
  const dropping = await waitFor(async () => {
    const l = await drainsJson();
    return l.every((d) => (d.status?.dropped ?? 0) >= N - BUFFER_LINES) ? l : null;
  }, { timeoutMs: 10_000, what: 'every drain to count its drops' });
  for (const d of dropping) assert.ok(d.status!.buffered <= BUFFER_LINES, `${d.url} holds at most its buffer`);
  const reports = await waitFor(async () => {
    const evs = (await c.events(APP, { limit: 500 })).filter((e) => e.type === 'drain.dropped');
    const byDrain = new Map<string, number>();
    for (const e of evs) byDrain.set(String(e.data.drain), (byDrain.get(String(e.data.drain)) ?? 0) + Number(e.data.dropped));
    return dropping.every((d) => (byDrain.get(d.id) ?? 0) >= N - BUFFER_LINES) ? evs : null;
  }, { timeoutMs: 10_000, what: 'drain.dropped events carrying the counts' });
  assert.match(reports[0].message, /^log drain drn-[0-9a-f]{10} \(.+\) dropped \d+ lines: its receiver is unreachable/);
  assert.ok(reports.length <= 3 * 4, `rate-limited (${reports.length} reports for 3 drains)`);
  const text = await cli('drains', '-a', APP);
  assert.match(text.text, /Lines were dropped .*drain\.dropped reports/);
  t.diagnostic(`${N} lines printed with the receivers down; dropped ${dropping.map((d) => `${d.status!.dropped} (${d.url.split(':')[0]})`).join(', ')}; ${reports.length} drain.dropped reports`);

  await allUp();
  const newest = range('over', N - 4000, N);
  await waitFor(async () => {
    const [r, t, h] = [await atRsyslog('over'), atTls('over'), atHttps('over')];
    return newest.every((x) => r.has(x) && t.has(x) && h.has(x));
  }, { timeoutMs: 30_000, what: 'the newest 4000 lines at every receiver' });
  assert.ok(!(await atRsyslog('over')).has('over 0') && !atTls('over').has('over 0') && !atHttps('over').has('over 0'), 'the oldest were dropped');
  // drain.dropped lines are Summon lines of the app, delivered like the rest once there is room
  await waitFor(() => tlsRx.messages.some((m) => m.procId === 'summon' && /dropped \d+ lines/.test(m.msg)), { timeoutMs: 10_000, what: 'a drop report in the drain itself' });
});

test('drains:remove by id or by URL stops the drain', async () => {
  const [first, second] = await c.drains(APP);
  let r = await cli('drains:remove', '-a', APP, first.id);
  assert.equal(r.code, 0, r.text);
  r = await cli('drains:remove', '-a', APP, second.url);
  assert.equal(r.code, 0, r.text);
  assert.deepEqual((await drainsJson()).map((d) => d.id), [(await c.drains(APP))[0].id]);
  r = await cli('drains:remove', '-a', APP, 'drn-0000000000');
  assert.equal(r.code, 5, 'an unknown drain is not_found');
});
