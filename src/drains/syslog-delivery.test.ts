// Syslog deliveries against real receivers on loopback (plain TCP and TLS with a private CA):
// lines arrive framed and in order; a receiver that goes away mid-stream and comes back gets
// every line the buffer held; past the buffer the oldest are dropped and counted.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { LogLine } from '../control/log-store.js';
import { systemResolver, type Resolver } from '../notify/webhook-targets.js';
import { startSyslogReceiver, type SyslogReceiver } from '../testing/drain-receivers.js';
import { makeTestCerts, type TestCerts } from '../testing/test-certs.js';
import { waitFor } from '../testing/wait.js';
import type { DeliveryState } from './delivery.js';
import { DrainBuffer } from './drain-buffer.js';
import { parseDrainUrl } from './drain-target.js';
import { syslogFrame } from './line-format.js';
import { SyslogDelivery } from './syslog-delivery.js';

let dir: string;
let certs: TestCerts;
const cleanup: (() => Promise<unknown>)[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'summon-syslog-'));
  certs = await makeTestCerts(dir);
});

after(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

async function receiver(tlsOn: boolean): Promise<SyslogReceiver> {
  const r = await startSyslogReceiver(tlsOn ? { tls: { cert: certs.cert, key: certs.key } } : {});
  cleanup.push(() => r.stop());
  return r;
}

function delivery(url: string, o: { maxLines?: number; ca?: string | null; resolve?: Resolver } = {}) {
  const buffer = new DrainBuffer({ maxLines: o.maxLines ?? 10_000, maxBytes: 4 * 1024 * 1024 });
  const states: DeliveryState[] = [];
  const d = new SyslogDelivery({
    id: 'drn-test', app: 'web', target: parseDrainUrl(url), buffer, allowPrivate: true, resolve: o.resolve ?? systemResolver,
    ...(o.ca === null ? {} : { ca: o.ca ?? certs.ca }),
    retryBaseMs: 20, retryMaxMs: 200, timeoutMs: 5000, confirmMs: 300, now: Date.now,
    onState: (s) => states.push(s),
  });
  cleanup.push(() => d.close(0));
  d.start();
  let seq = 0;
  const push = (tag: string, n: number) => {
    for (let i = 0; i < n; i++) {
      const line: LogLine = { seq: ++seq, at: Date.now(), app: 'web', source: 'app', proc: 'web-0123456789', text: `${tag} ${i}` };
      buffer.push(syslogFrame(line, 'host1'));
    }
    d.kick();
  };
  const pushLine = (text: string) => buffer.push(syslogFrame({ seq: ++seq, at: Date.now(), app: 'web', source: 'app', proc: 'web-0123456789', text }, 'host1'));
  return { d, buffer, states, push, pushLine };
}

const texts = (r: SyslogReceiver, tag: string) => new Set(r.messages.map((m) => m.msg).filter((m) => m.startsWith(`${tag} `)));
const all = (tag: string, from: number, to: number) => Array.from({ length: to - from }, (_, i) => `${tag} ${from + i}`);

test('plain TCP: frames arrive in order with the RFC 5424 fields', async () => {
  const r = await receiver(false);
  const { d, push } = delivery(`syslog://127.0.0.1:${r.port}`);
  await waitFor(() => d.current.state === 'up', { timeoutMs: 5000, what: 'the connection' });
  push('plain', 2000);
  await waitFor(() => r.messages.length >= 2000, { timeoutMs: 10_000, what: '2000 messages' });
  assert.deepEqual(r.messages.map((m) => m.msg), all('plain', 0, 2000));
  const m = r.messages[0];
  assert.deepEqual([m.pri, m.version, m.hostname, m.appName, m.procId, m.msgId, m.structuredData], [14, 1, 'host1', 'web', 'web-0123456789', 'app', '-']);
  assert.deepEqual(r.errors, []);
  assert.equal(r.connections(), 1, 'one connection carries everything');
});

test('a receiver that goes away mid-stream and comes back gets every line the buffer held', async () => {
  const r = await receiver(false);
  const { d, states, buffer, pushLine } = delivery(`syslog://127.0.0.1:${r.port}`);
  await waitFor(() => d.current.state === 'up', { timeoutMs: 5000, what: 'the connection' });
  // a steady stream: 20 lines every 2 ms, 4000 in all, while the receiver is cut and comes back
  let n = 0;
  const timer = setInterval(() => {
    for (let i = 0; i < 20 && n < 4000; i++) pushLine(`stream ${n++}`);
    d.kick();
    if (n >= 4000) clearInterval(timer);
  }, 2);
  cleanup.push(async () => clearInterval(timer));
  await waitFor(() => texts(r, 'stream').size >= 300, { timeoutMs: 10_000, what: 'the first lines' });
  await r.stop(); // cuts the connection: what was in flight may be lost on the way
  await waitFor(() => /refused the connection \(is the receiver running\?\)/.test(String(d.current.lastError)), { timeoutMs: 5000, what: 'a reconnect attempt refused' });
  const cutAt = n;
  await waitFor(() => n >= Math.min(4000, cutAt + 400), { timeoutMs: 5000, what: 'more lines while it is away' });
  await r.start();
  await waitFor(() => n >= 4000 && texts(r, 'stream').size === 4000, { timeoutMs: 15_000, what: 'every line after the restart' });
  assert.ok(cutAt < 4000, 'the receiver went away mid-stream');
  assert.ok(states.some((s) => s.state === 'down') && d.current.state === 'up');
  assert.equal(buffer.dropped, 0);
  assert.ok(r.connections() >= 2);
  // Lines may arrive twice (resent after the break), never out of order within a connection's run.
  const msgs = r.messages.map((m) => m.msg);
  assert.deepEqual(msgs.slice(msgs.lastIndexOf(`stream ${cutAt}`)), all('stream', cutAt, 4000));
});

test('past the buffer while the receiver is away: the oldest are dropped and counted, the newest arrive', async () => {
  const r = await receiver(false);
  const { d, push, buffer } = delivery(`syslog://127.0.0.1:${r.port}`, { maxLines: 100 });
  await waitFor(() => d.current.state === 'up', { timeoutMs: 5000, what: 'the connection' });
  await r.stop();
  await waitFor(() => d.current.state === 'down', { timeoutMs: 5000, what: 'the drain to notice' });
  push('over', 300);
  assert.equal(buffer.dropped, 200);
  await r.start();
  await waitFor(() => texts(r, 'over').size === 100, { timeoutMs: 10_000, what: 'the newest 100 lines' });
  assert.deepEqual([...texts(r, 'over')], all('over', 200, 300));
});

test('TLS: verified against the CA it is given; an untrusted or misnamed certificate is refused, saying what to do', async () => {
  const r = await receiver(true);
  const ok = delivery(`syslog+tls://127.0.0.1:${r.port}`);
  ok.push('tls', 50);
  await waitFor(() => texts(r, 'tls').size === 50, { timeoutMs: 10_000, what: 'lines over TLS' });
  const byName = delivery(`syslog+tls://localhost:${r.port}`);
  byName.push('named', 5);
  await waitFor(() => texts(r, 'named').size === 5, { timeoutMs: 10_000, what: 'lines to the name on the certificate' });

  const untrusted = delivery(`syslog+tls://127.0.0.1:${r.port}`, { ca: null });
  untrusted.push('never', 5);
  await waitFor(() => untrusted.d.current.state === 'down', { timeoutMs: 5000, what: 'the refusal' });
  assert.match(String(untrusted.d.current.lastError), /^TLS: .*not signed by a CA Summon trusts; for a private CA start Summon with --drain-ca FILE/);
  // a name that resolves to the receiver but is not on its certificate
  const misnamed = delivery(`syslog+tls://drains.example.test:${r.port}`, { resolve: async () => [{ address: '127.0.0.1', family: 4 }] });
  misnamed.push('never', 5);
  await waitFor(() => misnamed.d.current.state === 'down', { timeoutMs: 5000, what: 'the refusal' });
  assert.match(String(misnamed.d.current.lastError), /^TLS: .*\(the certificate does not name drains\.example\.test\)$/);
  assert.equal(texts(r, 'never').size, 0);
});

test('close sends what is pending before it ends the connection', async () => {
  const r = await receiver(false);
  const { d, push } = delivery(`syslog://127.0.0.1:${r.port}`);
  await waitFor(() => d.current.state === 'up', { timeoutMs: 5000, what: 'the connection' });
  push('last', 500);
  await d.close(5000);
  await waitFor(() => texts(r, 'last').size === 500, { timeoutMs: 5000, what: 'the lines pending at close' });
});
