// One order against a real pebble (started here), its HTTP-01 answered by a small server that
// stands in for the router: the certificate covers the names, chains to pebble's root, and the
// challenges are set while validating and cleared after.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { issueCertificate, newAccountKey } from './issuer.js';
import { startPebble } from '../testing/pebble.js';

test('issueCertificate: pebble validates HTTP-01 against our answers and issues a chain for every name', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'summon-acme-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const answers = new Map<string, string>();
  const asked: string[] = [];
  const srv = http.createServer((req, res) => {
    const m = /^\/\.well-known\/acme-challenge\/([\w-]+)$/.exec(req.url ?? '');
    const a = m ? answers.get(m[1]) : undefined;
    asked.push(`${req.headers.host} ${req.url}`);
    res.writeHead(a ? 200 : 404, { 'content-type': 'text/plain' }).end(a ?? 'no');
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  t.after(() => new Promise<void>((r) => srv.close(() => r())));
  const pebble = await startPebble({ dir, httpPort: (srv.address() as { port: number }).port });
  t.after(() => pebble.close());

  const progress: string[] = [];
  const set: string[] = [];
  const cert = await issueCertificate({
    directoryUrl: pebble.directoryUrl, ca: pebble.tls.ca, accountKeyPem: await newAccountKey(), email: 'ops@example.com',
    hosts: ['www.example.test', 'example.test'],
    setChallenge: async (token, keyAuth) => {
      assert.ok(keyAuth.startsWith(`${token}.`), 'a key authorization is the token, a dot and the account thumbprint');
      answers.set(token, keyAuth);
      set.push(token);
    },
    clearChallenge: async (token) => void answers.delete(token),
    onProgress: (m) => progress.push(m),
  }).catch((e: unknown) => assert.fail(`${String(e)}\npebble said:\n${pebble.output()}`));

  assert.equal(set.length, 2, 'one challenge per name');
  assert.equal(answers.size, 0, 'every challenge cleared');
  assert.ok(asked.some((a) => a.startsWith('www.example.test:')) && asked.some((a) => a.startsWith('example.test:')), `the VA asked for both names: ${asked.join('; ')}`);
  const chain: string[] = cert.certPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  assert.ok(chain.length >= 2, 'the leaf and its intermediate');
  const leaf = new X509Certificate(chain[0]!);
  assert.equal(leaf.subjectAltName, 'DNS:www.example.test, DNS:example.test');
  assert.ok(leaf.checkPrivateKey((await import('node:crypto')).createPrivateKey(cert.keyPem)), 'the key is the leaf\'s');
  const root = new X509Certificate(await pebble.issuerRoot());
  const inter = new X509Certificate(chain[chain.length - 1]!);
  assert.ok(inter.verify(root.publicKey), 'the chain ends at pebble\'s root');
  assert.ok(Date.parse(cert.notAfter) > Date.now());
  assert.ok(progress.some((m) => /validated/.test(m)) && progress.some((m) => /valid until/.test(m)), progress.join('\n'));
});

test('issueCertificate: a name the VA cannot validate fails with the CA\'s reason, and its challenge is cleared', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'summon-acme-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const srv = http.createServer((_req, res) => res.writeHead(404).end('not here'));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  t.after(() => new Promise<void>((r) => srv.close(() => r())));
  const pebble = await startPebble({ dir, httpPort: (srv.address() as { port: number }).port });
  t.after(() => pebble.close());
  const answers = new Map<string, string>();
  await assert.rejects(issueCertificate({
    directoryUrl: pebble.directoryUrl, ca: pebble.tls.ca, accountKeyPem: await newAccountKey(), hosts: ['nope.example.test'],
    setChallenge: async (token, keyAuth) => void answers.set(token, keyAuth),
    clearChallenge: async (token) => void answers.delete(token),
  }), (e: Error) => /404|unauthorized|invalid/i.test(e.message));
  assert.equal(answers.size, 0);
});
