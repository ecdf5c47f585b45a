// The edge service over a real SQLite store and real secrets: what it sends to its data planes
// on start, on each change, and what it keeps out (keys in clear in the store).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openStore } from '../store/open.js';
import { issue, makeCa } from '../testing/domain-certs.js';
import type { EdgeState } from '../router/edge-types.js';
import { EdgeService } from './edge-service.js';
import { Secrets } from './secrets.js';

test('EdgeService: domains, certificates (keys decrypted for the data plane only), ACME answers and policies, sent whole on every change', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'summon-edge-'));
  const store = await openStore(join(dir, 'summon.db'));
  t.after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  const secrets = await Secrets.open(dir, '11'.repeat(32));
  const sent: EdgeState[] = [];
  const edge = new EdgeService({ store, secrets, targets: [{ setEdge: (e) => sent.push(e) }], served: ['localhost'], now: Date.now });
  await store.createApp('web', Date.now());
  await store.createApp('api', Date.now());
  // A live release whose manifest says [http]: its policy is in the state from the start.
  const rel = await store.createRelease('web', { status: 'live', description: 'v1', reason: null, commit: null, artifactSha256: null, initrdSha256: null,
    manifest: { http: { forceHttps: true, hstsMaxAge: 600 } } as never, buildManifest: null, configCipher: null } as never, Date.now());
  await store.updateApp('web', { liveVersion: rel.version });

  await edge.start();
  assert.deepEqual(sent.at(-1), { domains: {}, certs: [], challenges: {}, policies: { web: { forceHttps: true, hstsMaxAge: 600 } } });

  await edge.addDomain('web', 'WWW.Example.com');
  assert.deepEqual(sent.at(-1)!.domains, { 'www.example.com': 'web' });
  await assert.rejects(edge.addDomain('api', 'www.example.com'), (e: Error & { code?: string; details?: Record<string, unknown> }) => e.code === 'conflict' && e.details?.owner === 'web');
  await assert.rejects(edge.addDomain('web', 'www.example.com'), /web already has the domain www\.example\.com/);
  await assert.rejects(edge.addDomain('web', 'x.localhost'), /serves apps already/);

  const ca = await makeCa(dir);
  const leaf = await issue(ca, { cn: 'www', hosts: ['www.example.com'] });
  const before = sent.length;
  const { stored } = await edge.addCert('web', leaf.cert, leaf.key, 'acme');
  assert.equal(sent.length, before + 1);
  const [cert] = sent.at(-1)!.certs;
  assert.deepEqual([cert.app, cert.id, cert.hosts], ['web', stored.id, ['www.example.com']]);
  assert.match(cert.keyPem, /^-----BEGIN PRIVATE KEY-----/, 'decrypted for the data plane');
  const [row] = await store.listCerts('web');
  assert.equal(row.source, 'acme');
  assert.doesNotMatch(row.keyCipher, /PRIVATE KEY/);
  assert.equal(secrets.decrypt(row.keyCipher).key, cert.keyPem);
  await assert.rejects(edge.addCert('api', leaf.cert, leaf.key), /none of them a domain of the app/);

  edge.setChallenge('tok_1-A', 'tok_1-A.thumb');
  assert.deepEqual(sent.at(-1)!.challenges, { 'tok_1-A': 'tok_1-A.thumb' });
  assert.equal(sent.at(-1)!.certs.length, 1, 'sent whole');
  assert.throws(() => edge.setChallenge('../etc', 'x'), /base64url/);
  edge.clearChallenge('tok_1-A');
  assert.deepEqual(sent.at(-1)!.challenges, {});
  const n = sent.length;
  edge.clearChallenge('tok_1-A');
  assert.equal(sent.length, n, 'nothing to clear: nothing sent');

  // A second data plane (HAProxy's) is told the current state at once.
  let other: EdgeState | null = null;
  edge.addTarget({ setEdge: (e) => (other = e) });
  assert.deepEqual(other, edge.current());

  await assert.rejects(edge.removeCert('web', 'abc'), /first 8 characters or more/);
  await edge.removeCert('web', stored.id.slice(0, 10));
  assert.deepEqual(sent.at(-1)!.certs, []);
  await edge.removeDomain('web', 'www.example.com.');
  assert.deepEqual(sent.at(-1)!.domains, {});
  await assert.rejects(edge.removeDomain('web', 'www.example.com'), /not_found|no domain|www\.example\.com/);

  // A release going live without [http]: the app's policy is the default again (not named).
  const v2 = await store.createRelease('web', { status: 'live', description: 'v2', reason: null, commit: null, artifactSha256: null, initrdSha256: null,
    manifest: { scale: { min: 1 } } as never, buildManifest: null, configCipher: null } as never, Date.now());
  await store.updateApp('web', { liveVersion: v2.version });
  edge.onEvent({ id: 2, app: 'web', type: 'release.live', message: '', data: { version: v2.version }, at: Date.now() });
  await (edge as unknown as { chain: Promise<unknown> }).chain;
  assert.deepEqual(sent.at(-1)!.policies, {});

  // Destroyed: its domains and policy go.
  await edge.addDomain('web', 'shop.example.com');
  await store.deleteApp('web');
  edge.onEvent({ id: 1, app: null, type: 'app.destroyed', message: '', data: { app: 'web' }, at: Date.now() });
  await (edge as unknown as { chain: Promise<unknown> }).chain;
  assert.deepEqual([sent.at(-1)!.domains, sent.at(-1)!.policies], [{}, {}]);
});
