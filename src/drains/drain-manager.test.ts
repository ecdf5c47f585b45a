// The drain manager with a real log store, event bus and SQLite store: every line logged for an
// app reaches its drains; drops are reported as rate-limited drain.dropped events whose counts
// add up; an outage is one drain.down and one drain.up; a destroyed app's drains stop.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { EventBus } from '../control/event-bus.js';
import { LogStore } from '../control/log-store.js';
import { isSummonError } from '../core/errors.js';
import { openStore } from '../store/open.js';
import type { Store } from '../store/store.js';
import { startHttpsReceiver, startSyslogReceiver } from '../testing/drain-receivers.js';
import { makeTestCerts, type TestCerts } from '../testing/test-certs.js';
import { waitFor } from '../testing/wait.js';
import { DrainManager, type DrainSettings } from './drain-manager.js';

let dir: string;
let certs: TestCerts;
let store: Store;
let logs: LogStore;
let events: EventBus;
const cleanup: (() => Promise<unknown>)[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'summon-drains-'));
  certs = await makeTestCerts(dir);
  store = await openStore(join(dir, 'summon.db'));
  logs = new LogStore({ dir: join(dir, 'logs') });
  events = new EventBus({ store, logs, now: Date.now });
  await store.createApp('web', Date.now());
});

after(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => undefined);
  await events.drained();
  // The events above write Summon's lines into the log files: written before the directory goes.
  await logs.flush();
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

function manager(o: DrainSettings = {}): DrainManager {
  const m = new DrainManager({ store, logs, events, allowPrivate: true, ca: certs.ca, retryBaseMs: 20, retryMaxMs: 200, confirmMs: 200, flushMs: 10, ...o });
  cleanup.push(() => m.close());
  return m;
}

test('options are checked at construction', () => {
  const bad = (o: DrainSettings, re: RegExp) => assert.throws(() => new DrainManager({ store, logs, events, ...o }), (e) => isSummonError(e) && re.test(e.message));
  bad({ bufferLines: 0 }, /bufferLines must be a whole number from 1/);
  bad({ bufferBytes: 10 }, /bufferBytes must be a whole number from 65536/);
  bad({ retryBaseMs: 1000, retryMaxMs: 10 }, /retryMaxMs must be a whole number from 1000/);
  bad({ ca: 'not a certificate' }, /ca must hold PEM certificates/);
  bad({ allowPrivate: 'yes' as unknown as boolean }, /allowPrivate must be true or false/);
});

test("app and Summon lines reach every drain of the app, each in its receiver's form", async () => {
  const sys = await startSyslogReceiver({ tls: { cert: certs.cert, key: certs.key } });
  cleanup.push(() => sys.stop());
  const web = await startHttpsReceiver({ cert: certs.cert, key: certs.key });
  cleanup.push(() => web.stop());
  const m = manager();
  await store.addDrain({ id: 'drn-tls', app: 'web', url: `syslog+tls://127.0.0.1:${sys.port}`, createdAt: 1 });
  await store.addDrain({ id: 'drn-web', app: 'web', url: web.url, createdAt: 2 });
  await m.start();
  const at = Date.now() - 5000;
  logs.append('web', 'app', 'web-0123456789', 'hello from the app', at);
  logs.append('other', 'app', 'other-1', 'not this app');
  void events.emit('web', 'release.live', 'v1 is live');
  await waitFor(() => sys.messages.length >= 2 && web.lines.length >= 2, { timeoutMs: 10_000, what: 'both lines at both receivers' });
  const [a, s] = sys.messages;
  assert.deepEqual([a.appName, a.procId, a.msgId, a.msg, a.timestamp], ['web', 'web-0123456789', 'app', 'hello from the app', new Date(at).toISOString()]);
  assert.deepEqual([s.appName, s.procId, s.msgId, s.structuredData, s.msg], ['web', 'summon', 'summon', '[summon@32473 component="release"]', 'v1 is live']);
  assert.deepEqual(web.lines.map((l) => [l.source, l.instance ?? l.component, l.text]), [['app', 'web-0123456789', 'hello from the app'], ['summon', 'release', 'v1 is live']]);
  assert.ok(!sys.messages.some((x) => x.msg === 'not this app'));
  const st = m.status('drn-tls')!;
  assert.equal(st.state, 'up');
  await waitFor(() => m.status('drn-tls')!.delivered === 2, { timeoutMs: 5000, what: 'the lines confirmed' });
  assert.equal(m.status('nope'), null);
  await m.remove('drn-tls');
  await m.remove('drn-web');
  await store.deleteDrain('web', 'drn-tls');
  await store.deleteDrain('web', 'drn-web');
});

test('drops while the receiver is away: rate-limited drain.dropped events whose counts add up, one drain.down, one drain.up', async () => {
  const sys = await startSyslogReceiver();
  cleanup.push(() => sys.stop());
  const m = manager({ bufferLines: 200, dropReportMs: 300 });
  const drain = { id: 'drn-drop', app: 'web', url: `syslog://127.0.0.1:${sys.port}`, createdAt: 3 };
  await store.addDrain(drain);
  m.add(drain);
  await waitFor(() => m.status(drain.id)?.state === 'up', { timeoutMs: 5000, what: 'the connection' });
  const since = (await store.listEvents({ app: 'web' })).at(-1)?.id ?? 0;
  await sys.stop();
  await waitFor(() => m.status(drain.id)?.state === 'down', { timeoutMs: 5000, what: 'the outage noticed' });
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 1000; i++) logs.append('web', 'app', 'web-1', `r${round} ${i}`);
    await waitFor(async () => (await store.listEvents({ app: 'web', afterId: since, types: ['drain.dropped'] })).length > round, { timeoutMs: 5000, what: `a drain.dropped report after round ${round}` });
  }
  const dropped = m.status(drain.id)!.dropped;
  assert.ok(dropped >= 2800, `dropped ${dropped}`);
  // The reports' counts add up to the total the last one states; past it, at most one line
  // per report (its own line, pushed into the full buffer) is dropped and told with the next.
  const reports = await waitFor(async () => {
    const evs = await store.listEvents({ app: 'web', afterId: since, types: ['drain.dropped'] });
    return m.status(drain.id)!.dropped - Number(evs.at(-1)!.data.total) <= evs.length ? evs : null;
  }, { timeoutMs: 5000, what: 'the report due within dropReportMs' });
  assert.ok(reports.length <= 5, `rate-limited: ${reports.length} reports for 3 bursts`);
  assert.equal(reports.reduce((n, e) => n + Number(e.data.dropped), 0), Number(reports.at(-1)!.data.total));
  assert.match(reports[0].message, /^log drain drn-drop \(syslog:\/\/127\.0\.0\.1:\d+\) dropped \d+ lines: its receiver is unreachable \(.+\); the buffer keeps the newest 200 lines or 4M/);
  await sys.start();
  await waitFor(() => sys.messages.some((x) => x.msg === 'r2 999'), { timeoutMs: 10_000, what: 'the newest line after the restart' });
  assert.ok(!sys.messages.some((x) => x.msg === 'r0 0'), 'the oldest were dropped');
  await waitFor(async () => (await store.listEvents({ app: 'web', afterId: since, types: ['drain.up'] })).length === 1, { timeoutMs: 5000, what: 'drain.up' });
  const downs = await store.listEvents({ app: 'web', afterId: since, types: ['drain.down'] });
  assert.equal(downs.length, 1);
  assert.match(downs[0].message, /cannot deliver: .*retrying with backoff/);
  await m.remove(drain.id);
  await store.deleteDrain('web', drain.id);
});

test("a destroyed app's drains stop", async () => {
  const sys = await startSyslogReceiver();
  cleanup.push(() => sys.stop());
  await store.createApp('gone', Date.now());
  const m = manager();
  const drain = { id: 'drn-gone', app: 'gone', url: `syslog://127.0.0.1:${sys.port}`, createdAt: 4 };
  await store.addDrain(drain);
  m.add(drain);
  await waitFor(() => m.status(drain.id)?.state === 'up', { timeoutMs: 5000, what: 'the connection' });
  await store.deleteApp('gone');
  await events.emit(null, 'app.destroyed', 'app gone destroyed', { app: 'gone' });
  await waitFor(() => m.status(drain.id) === null, { timeoutMs: 5000, what: 'the drain to stop' });
  await waitFor(() => sys.connections() === 1 && sys.openConnections() === 0, { timeoutMs: 5000, what: 'the connection closed' });
  logs.append('gone', 'app', 'gone-1', 'after');
  assert.deepEqual(sys.messages, []);
});
