// certs:auto against a real pebble whose VA dials a real Router (this test's), over a real
// SQLite store: turning it on obtains a certificate the router then serves by SNI; the loop
// renews it when a third of its lifetime is left; a failure is an event with the backoff, and
// the account key is stored encrypted.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Secrets } from '../control/secrets.js';
import type { EdgeState } from '../router/edge-types.js';
import { Router } from '../router/router.js';
import { startUpstream } from '../router/test-support.js';
import { openStore } from '../store/open.js';
import type { Store, StoredCert } from '../store/store.js';
import { startPebble } from '../testing/pebble.js';
import { waitFor } from '../testing/wait.js';
import { AcmeManager } from './manager.js';

/** The edge service's part in this, over the store and one router. */
function standInEdge(store: Store, secrets: Secrets, router: Router) {
  const state: EdgeState = { domains: {}, certs: [], challenges: {}, policies: {} };
  const push = async () => {
    const certs = await store.listCerts();
    router.setEdge({ ...state, certs: certs.map((c) => ({ id: c.id, app: c.app, hosts: c.hosts, certPem: c.certPem, keyPem: secrets.decrypt(c.keyCipher).key!, notAfter: new Date(c.notAfter).toISOString() })) });
  };
  return {
    setChallenge: (t: string, k: string) => {
      state.challenges = { ...state.challenges, [t]: k };
      void push();
    },
    clearChallenge: (t: string) => {
      const { [t]: _gone, ...rest } = state.challenges;
      state.challenges = rest;
      void push();
    },
    addCert: async (app: string, certPem: string, keyPem: string, source: 'acme') => {
      const leaf = new X509Certificate(certPem);
      const { createHash } = await import('node:crypto');
      const c: StoredCert = {
        app, id: createHash('sha256').update(leaf.raw).digest('hex'), hosts: (leaf.subjectAltName ?? '').split(', ').map((s) => s.replace(/^DNS:/, '')),
        certPem, keyCipher: secrets.encrypt({ key: keyPem }), issuer: leaf.issuer, subject: leaf.subject,
        notBefore: Date.parse(leaf.validFrom), notAfter: Date.parse(leaf.validTo), source, createdAt: Date.now(),
      };
      await store.putCert(c);
      await push();
    },
  };
}

function servedSerial(port: number, host: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, servername: host, headers: { host }, ca, agent: false }, (res) => {
      res.resume();
      resolve((res.socket as import('node:tls').TLSSocket).getPeerCertificate().serialNumber);
    });
    req.on('error', reject);
  });
}

test('certs:auto: obtained from pebble and served, renewed by the loop, failures are events; the account key is encrypted', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'summon-acme-mgr-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const store = await openStore(join(dir, 'summon.db'));
  t.after(() => store.close());
  const secrets = await Secrets.open(dir, '11'.repeat(32));
  const up = await startUpstream('shop1');
  t.after(() => up.kill());
  const router = new Router({ port: 0, host: '127.0.0.1', httpsPort: 0 });
  const { port, httpsPort } = await router.listen();
  t.after(() => router.close(100));
  // Certificates valid for 30 s: a third of that (10 s) left, the loop renews.
  const pebble = await startPebble({ dir: join(dir, 'pebble'), httpPort: port, validitySeconds: 30 });
  t.after(() => pebble.close());
  const root = await pebble.issuerRoot();

  await store.createApp('shop', Date.now());
  router.setRoute('shop', { kind: 'serving', upstreams: [up.upstream()] });
  const events: { app: string; type: string; message: string; data: Record<string, unknown> }[] = [];
  const mgr = new AcmeManager({
    dataDir: dir, directoryUrl: pebble.directoryUrl, ca: pebble.tls.ca, email: 'ops@example.com',
    encrypt: (v) => secrets.encrypt(v), decrypt: (c) => secrets.decrypt(c),
    store, edge: standInEdge(store, secrets, router),
    emit: (app, type, message, data) => void events.push({ app, type, message, data }),
    retryBaseMs: 200, retryMaxMs: 1000,
  });
  await mgr.start();
  t.after(() => mgr.close());

  await assert.rejects(mgr.enable('shop'), /shop has no custom domain .*summon domains:add -a shop HOST/);
  await assert.rejects(mgr.enable('nope'), /app.*nope/i);
  await store.addDomain({ host: 'shop.example.test', app: 'shop', createdAt: Date.now() });
  await store.addDomain({ host: 'www.shop.example.test', app: 'shop', createdAt: Date.now() });

  const lines: string[] = [];
  const { result, status } = await mgr.enable('shop', (l) => lines.push(l));
  assert.ok(result?.ok, `${JSON.stringify(result)}\n${lines.join('\n')}\n${pebble.output().slice(-2000)}`);
  assert.equal(status.enabled, true);
  assert.ok(lines.some((l) => /answering HTTP-01/.test(l)) && lines.some((l) => /served now/.test(l)), lines.join('\n'));
  assert.deepEqual(events.map((e) => e.type), ['cert.issued']);
  const first = await servedSerial(httpsPort!, 'www.shop.example.test', root);
  assert.equal(first, new X509Certificate((await store.listCerts('shop'))[0].certPem).serialNumber, 'the router serves the new certificate');
  assert.ok(status.cert && status.nextOrderAt === status.cert.renewAt, 'the next order is the renewal');
  assert.ok(status.cert.renewAt - Date.now() <= 21_000, 'renewal once a third of 30 s is left');

  // The loop renews it: a new serial is served, and the event says it replaced the first.
  await waitFor(() => events.some((e) => e.type === 'cert.renewed'), { timeoutMs: 40_000, what: `the renewal; events: ${JSON.stringify(events)}` });
  const renewed = events.find((e) => e.type === 'cert.renewed')!;
  assert.equal(typeof renewed.data.replaces, 'string');
  const second = await servedSerial(httpsPort!, 'shop.example.test', root);
  assert.notEqual(second, first);

  // The account key is on disk only encrypted.
  const files = await readdir(join(dir, 'acme'));
  const account = files.find((f) => f.startsWith('account-'))!;
  const text = await readFile(join(dir, 'acme', account), 'utf8');
  assert.doesNotMatch(text, /PRIVATE KEY/);
  assert.match(secrets.decrypt((JSON.parse(text) as { keyCipher: string }).keyCipher).key!, /BEGIN (EC )?PRIVATE KEY/);

  // A domain the VA cannot reach: the order fails, an event says why and when it tries again,
  // and the loop does try again with backoff.
  await store.addDomain({ host: 'broken.example.test', app: 'shop', createdAt: Date.now() });
  router.setRoute('shop', { kind: 'no-release' }); // the challenge is still answered: it is the router's
  const failedBefore = events.filter((e) => e.type === 'cert.failed').length;
  const stopAnswering = router.setEdge.bind(router);
  // Answer nothing: replace setEdge so no challenge reaches the router.
  (router as unknown as { setEdge: (e: EdgeState) => void }).setEdge = (e) => stopAnswering({ ...e, challenges: {} });
  const bad = await mgr.enable('shop');
  assert.equal(bad.result?.ok, false);
  const failed = events.filter((e) => e.type === 'cert.failed');
  assert.equal(failed.length, failedBefore + 1);
  assert.match(failed.at(-1)!.message, /no certificate for broken\.example\.test, shop\.example\.test, www\.shop\.example\.test: .*returned 404\. Tried 1 time\(s\); next in 200ms\..*port 80/);
  assert.equal(failed.at(-1)!.data.failures, 1);
  await waitFor(() => events.filter((e) => e.type === 'cert.failed').length >= failedBefore + 2, { timeoutMs: 60_000, what: 'a retry by the loop' });
  assert.equal(events.filter((e) => e.type === 'cert.failed').at(-1)!.data.failures, 2);
  assert.equal((await mgr.status('shop')).failures >= 2, true);

  const off = await mgr.disable('shop');
  assert.equal(off.enabled, false);
  assert.equal(off.nextOrderAt, null);
  await assert.rejects(mgr.disable('shop'), /not on for shop/);
});
