// HTTPS deliveries against a node:https receiver with a private CA's certificate: batches of
// JSON lines, retried with backoff on failure, nothing lost across a receiver restart.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { LogLine } from '../control/log-store.js';
import { systemResolver } from '../notify/webhook-targets.js';
import { startHttpsReceiver, type HttpsReceiver } from '../testing/drain-receivers.js';
import { makeTestCerts, type TestCerts } from '../testing/test-certs.js';
import { waitFor } from '../testing/wait.js';
import { DrainBuffer } from './drain-buffer.js';
import { parseDrainUrl } from './drain-target.js';
import { HttpsDelivery } from './https-delivery.js';
import { jsonLine } from './line-format.js';

let dir: string;
let certs: TestCerts;
const cleanup: (() => Promise<unknown>)[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'summon-https-drain-'));
  certs = await makeTestCerts(dir);
});

after(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

async function receiver(): Promise<HttpsReceiver> {
  const r = await startHttpsReceiver({ cert: certs.cert, key: certs.key });
  cleanup.push(() => r.stop());
  return r;
}

function delivery(url: string, o: { ca?: string | null; maxLines?: number } = {}) {
  const buffer = new DrainBuffer({ maxLines: o.maxLines ?? 10_000, maxBytes: 4 * 1024 * 1024 });
  const d = new HttpsDelivery({
    id: 'drn-test', app: 'web', target: parseDrainUrl(url), buffer, allowPrivate: true, resolve: systemResolver,
    ...(o.ca === null ? {} : { ca: o.ca ?? certs.ca }),
    retryBaseMs: 20, retryMaxMs: 200, timeoutMs: 5000, now: Date.now, onState: () => undefined,
    batchLines: 1000, batchBytes: 1024 * 1024, flushMs: 20,
  });
  cleanup.push(() => d.close(0));
  d.start();
  let seq = 0;
  const push = (tag: string, n: number) => {
    for (let i = 0; i < n; i++) {
      const line: LogLine = { seq: ++seq, at: 1_700_000_000_000 + i, app: 'web', source: 'app', proc: 'web-0123456789', text: `${tag} ${i}` };
      buffer.push(jsonLine(line));
    }
    d.kick();
  };
  return { d, buffer, push };
}

const texts = (r: HttpsReceiver, tag: string) => r.lines.map((l) => l.text).filter((t) => t.startsWith(`${tag} `));
const all = (tag: string, from: number, to: number) => Array.from({ length: to - from }, (_, i) => `${tag} ${from + i}`);

test('lines go out as batches of JSON lines, in order', async () => {
  const r = await receiver();
  const { d, push } = delivery(r.url);
  push('batch', 2500);
  await waitFor(() => texts(r, 'batch').length === 2500, { timeoutMs: 10_000, what: '2500 lines' });
  assert.deepEqual(texts(r, 'batch'), all('batch', 0, 2500));
  assert.ok(r.requests.length >= 3 && r.requests.every((q) => q.lines <= 1000), `batches of at most 1000: ${r.requests.map((q) => q.lines).join(', ')}`);
  const h = r.requests[0].headers;
  assert.equal(h['content-type'], 'application/x-ndjson');
  assert.equal(h['x-summon-drain'], 'drn-test');
  assert.equal(h['x-summon-app'], 'web');
  assert.deepEqual(r.lines[0], { at: 1_700_000_000_000, time: '2023-11-14T22:13:20.000Z', app: 'web', source: 'app', instance: 'web-0123456789', text: 'batch 0' });
  assert.equal(d.current.state, 'up');
});

test('a failing answer is retried with backoff until it succeeds; nothing is lost or reordered', async () => {
  const r = await receiver();
  r.answer = 503;
  const { d, push } = delivery(r.url);
  push('retry', 10);
  await waitFor(() => r.requests.length >= 3, { timeoutMs: 5000, what: 'three attempts' });
  assert.equal(d.current.state, 'down');
  assert.equal(d.current.lastError, 'answered 503');
  r.answer = 200;
  await waitFor(() => texts(r, 'retry').length === 10, { timeoutMs: 5000, what: 'the lines once answered 200' });
  assert.deepEqual(texts(r, 'retry'), all('retry', 0, 10));
  assert.ok(r.requests.slice(0, -1).every((q) => q.answered === 503 && q.lines === 10));
});

test('a receiver that goes away and comes back gets every line; past the buffer the newest', async () => {
  const r = await receiver();
  const { d, push, buffer } = delivery(r.url, { maxLines: 3000 });
  push('before', 500);
  await waitFor(() => texts(r, 'before').length === 500, { timeoutMs: 5000, what: 'the first lines' });
  await r.stop();
  push('during', 2000);
  await waitFor(() => d.current.state === 'down', { timeoutMs: 5000, what: 'the drain to notice' });
  assert.match(String(d.current.lastError), /refused the connection|socket hang up|ECONNRESET/);
  push('over', 2000); // 4000 pending in a buffer of 3000: the oldest 1000 "during" lines go
  // counted at once, or when a retry that held some of them in flight fails
  await waitFor(() => buffer.dropped === 1000, { timeoutMs: 5000, what: '1000 dropped' });
  await r.start();
  await waitFor(() => texts(r, 'over').length === 2000, { timeoutMs: 10_000, what: 'the lines after the restart' });
  assert.deepEqual(texts(r, 'during'), all('during', 1000, 2000));
  assert.deepEqual(texts(r, 'over'), all('over', 0, 2000));
});

test("an untrusted certificate is refused, saying how to trust a private CA", async () => {
  const r = await receiver();
  const { d, push } = delivery(r.url, { ca: null });
  push('never', 3);
  await waitFor(() => d.current.state === 'down', { timeoutMs: 5000, what: 'the refusal' });
  assert.match(String(d.current.lastError), /^TLS: .*--drain-ca FILE/);
  assert.equal(r.lines.length, 0);
});
