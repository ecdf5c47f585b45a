// Custom domains and uploaded certificates end to end: a real `summon up` (its data plane a
// process of its own), the real CLI, a pushed app, and certificates made here with openssl.
// A domain routes by the Host header; a second owner is refused (named only to a caller who
// reaches the owner); certs:add refuses what is wrong with the reason; the key is not in the
// database in clear; and all of it survives restarts of `summon up`, one that adopts the
// running data plane and one that starts a new one.
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { issue, makeCa } from '../../src/testing/domain-certs.js';
import { waitFor } from '../../src/testing/wait.js';
import { cli, cliJson, exampleRepo, push, startSummonProcess, tempDir, type SummonProcess } from './harness.js';

function viaHost(s: SummonProcess, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: s.routerPort, path: '/', headers: { host }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** GET / over HTTPS to the data plane with SNI `host`, trusting `ca`: the answer and the certificate served. */
function viaHttps(s: SummonProcess, host: string, ca: string): Promise<{ status: number; body: string; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port: s.httpsPort!, servername: host, path: '/', headers: { host }, ca, agent: false }, (res) => {
      const fingerprint = (res.socket as import('node:tls').TLSSocket).getPeerCertificate().fingerprint256;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, fingerprint }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('domains and certs through the CLI: routing by Host, one owner per domain, certificate checks, kept across restarts', async (t) => {
  const root = await tempDir('domains');
  const data = join(root, 'data');
  const flags = ['--no-vm'];
  let s = await startSummonProcess(data, flags, undefined, { keepApps: true });
  t.after(async () => {
    await s.stop();
    const last = await startSummonProcess(data, flags); // stops what is still running from DATA
    await last.stop();
    await rm(root, { recursive: true, force: true });
  });
  const DAY = 86_400_000;
  const ca = await makeCa(root, 'Domains Test CA');
  const good = await issue(ca, { cn: 'www.example.com', hosts: ['www.example.com', 'shop.example.com'] });
  const stranger = await issue(ca, { cn: 'elsewhere', hosts: ['elsewhere.example.net'] });
  const expired = await issue(ca, { cn: 'old', hosts: ['www.example.com'], start: Date.now() - 60 * DAY, end: Date.now() - DAY });
  const garbage = join(root, 'garbage.pem');
  await writeFile(garbage, 'this is not a certificate\n');

  assert.equal((await cli(s, 'apps:create', 'site')).code, 0);
  assert.equal((await cli(s, 'apps:create', 'other')).code, 0);
  const repo = await exampleRepo('hello-node');
  const pushed = await push(s, repo, 'site');
  assert.equal(pushed.code, 0, pushed.stderr);

  // Before: a host no app owns is the 404 naming it.
  const unknown = await viaHost(s, 'www.example.com');
  assert.equal(unknown.status, 404);
  assert.match(unknown.body, /Host "www\.example\.com" is not served here/);

  const added = await cli(s, 'domains:add', '-a', 'site', 'WWW.Example.COM');
  assert.equal(added.code, 0, added.stderr);
  assert.match(added.stdout, /Added www\.example\.com to site\./);
  assert.match(added.stdout, /summon certs:add -a site/);
  assert.equal((await cli(s, 'domains:add', '-a', 'site', '*.example.org')).code, 0);
  await waitFor(async () => (await viaHost(s, 'www.example.com')).status === 200, { timeoutMs: 10_000, what: 'www.example.com to reach site' });
  assert.match((await viaHost(s, 'www.example.com:8080')).body, /hello from hello-node/);
  assert.match((await viaHost(s, 'tenant.example.org')).body, /hello from hello-node/, 'the wildcard');
  assert.equal((await viaHost(s, 'a.b.example.org')).status, 404, 'one label only');
  assert.equal((await viaHost(s, 'site.localhost')).status, 200, 'NAME.localhost as before');

  // Bad hostnames: exit 2, the reason.
  const scheme = await cli(s, 'domains:add', '-a', 'site', 'https://api.example.com/');
  assert.equal(scheme.code, 2, scheme.stderr);
  assert.match(scheme.stderr, /without the scheme: api\.example\.com/);
  const port = await cli(s, 'domains:add', '-a', 'site', 'api.example.com:443');
  assert.equal(port.code, 2);
  assert.match(port.stderr, /without a port/);
  const served = await cli(s, 'domains:add', '-a', 'site', 'other.localhost');
  assert.equal(served.code, 2);
  assert.match(served.stderr, /how Summon serves apps already/);

  // A second owner: refused (exit 6); the owner named to an admin, not to a token for `other` only.
  const admin = await cli(s, 'domains:add', '-a', 'other', 'www.example.com');
  assert.equal(admin.code, 6, admin.stderr);
  assert.match(admin.stderr, /www\.example\.com is a domain of site already: two apps cannot own one domain/);
  const tok = await cliJson(s, 'tokens:create', '--scope', 'deploy', '--app', 'other', '--json');
  const asOther = { env: { ...s.env, SUMMON_TOKEN: tok.token } };
  const hidden = await cli(asOther, 'domains:add', '-a', 'other', 'www.example.com');
  assert.equal(hidden.code, 6, hidden.stderr);
  assert.match(hidden.stderr, /is a domain of another app already/);
  assert.doesNotMatch(hidden.stderr, /\bsite\b/);
  assert.equal((await cli(asOther, 'domains', '-a', 'site')).code, 11, 'nor can it list site\'s domains');
  assert.equal((await cli(asOther, 'domains:add', '-a', 'other', 'other.example.com')).code, 0, 'a deploy token adds its own app\'s');
  assert.match((await viaHost(s, 'www.example.com')).body, /hello from hello-node/, 'site keeps it');

  // Certificates: each refusal with its reason, exit 2, nothing stored.
  const refuse = async (cert: string, key: string, re: RegExp) => {
    const r = await cli(s, 'certs:add', '-a', 'site', '--cert', cert, '--key', key);
    assert.equal(r.code, 2, `${r.stderr}${r.stdout}`);
    assert.match(r.stderr, re);
  };
  await refuse(good.certFile, stranger.keyFile, /the key does not match the certificate \(www\.example\.com\)/);
  await refuse(expired.certFile, expired.keyFile, /certificate for old expired on/);
  await refuse(stranger.certFile, stranger.keyFile, /covers elsewhere\.example\.net, none of them the app's domains/);
  await refuse(garbage, good.keyFile, /holds no PEM block/);
  await refuse(join(root, 'missing.pem'), good.keyFile, /cannot read --cert .*missing\.pem: ENOENT/);
  assert.deepEqual(await cliJson(s, 'certs', '-a', 'site', '--json'), []);

  // With its chain (CA after the leaf), accepted.
  const bundle = join(root, 'bundle.pem');
  await writeFile(bundle, `${ca.cert}${good.cert}`); // any order
  const ok = await cli(s, 'certs:add', '-a', 'site', '--cert', bundle, '--key', good.keyFile);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /Added certificate [0-9a-f]{16} to site: www\.example\.com, issued by Domains Test CA, expires \d{4}-/);
  const certs = await cliJson(s, 'certs', '-a', 'site', '--json');
  assert.equal(certs.length, 1);
  assert.deepEqual([certs[0].domains, certs[0].hosts, certs[0].issuer, certs[0].source], [['www.example.com'], ['www.example.com', 'shop.example.com'], 'Domains Test CA', 'upload']);
  assert.equal('keyPem' in certs[0] || 'keyCipher' in certs[0], false, 'the key never leaves');
  const id: string = certs[0].id;
  // Served over HTTPS to its domain by SNI, verified against the test CA.
  const leafPrint = new X509Certificate(good.cert).fingerprint256;
  const served1 = await waitFor(async () => viaHttps(s, 'www.example.com', ca.cert).catch(() => undefined), { timeoutMs: 10_000, what: 'HTTPS for www.example.com' });
  assert.equal(served1.status, 200);
  assert.match(served1.body, /hello from hello-node/);
  assert.equal(served1.fingerprint, leafPrint);
  const listed = await cliJson(s, 'domains', '-a', 'site', '--json');
  assert.deepEqual(listed.map((d: { host: string; certificate: string | null }) => [d.host, d.certificate]), [['*.example.org', null], ['www.example.com', id]]);
  const text = await cli(s, 'certs', '-a', 'site');
  assert.match(text.stdout, new RegExp(`${id.slice(0, 16)}\\s+www\\.example\\.com\\s+Domains Test CA\\s+\\d{4}-\\d\\d-\\d\\d\\s+upload`));
  // The key is stored encrypted: its body is nowhere in the database files.
  const keyBody = good.key.split('\n').filter((l) => l && !l.startsWith('-----')).join('');
  for (const f of ['summon.db', 'summon.db-wal']) {
    const bytes = await readFile(join(data, f)).catch(() => Buffer.alloc(0));
    assert.equal(bytes.includes(keyBody.slice(0, 40)), false, `${f} holds the key in clear`);
  }
  const audit = await cliJson(s, 'audit', '--app', 'site', '--json');
  const actions = audit.map((e: { action: string; outcome: string }) => `${e.action} ${e.outcome}`);
  for (const a of ['domain.add ok', 'domain.add failed', 'cert.add failed', 'cert.add ok']) assert.ok(actions.includes(a), `audit has ${a}: ${actions.join(', ')}`);
  assert.doesNotMatch(JSON.stringify(audit), /PRIVATE KEY/);

  // Restart, the data plane adopted: everything still there and routed.
  await s.stop();
  s = await startSummonProcess(data, flags);
  assert.match((await viaHost(s, 'www.example.com')).body, /hello from hello-node/);
  assert.equal((await cliJson(s, 'certs', '-a', 'site', '--json'))[0].id, id);
  assert.equal((await viaHttps(s, 'www.example.com', ca.cert)).fingerprint, leafPrint, 'HTTPS as before');
  // This one stops everything (data plane and apps) when it stops; the next starts anew, and
  // is told the edge state from the store.
  await s.stop();
  s = await startSummonProcess(data, flags, undefined, { keepApps: true });
  await waitFor(async () => (await viaHost(s, 'www.example.com')).status === 200, { timeoutMs: 30_000, what: 'www.example.com served by a new data plane' });
  assert.deepEqual((await cliJson(s, 'domains', '-a', 'site', '--json')).map((d: { host: string }) => d.host), ['*.example.org', 'www.example.com']);
  assert.equal((await cliJson(s, 'certs', '-a', 'site', '--json'))[0].id, id);
  const served3 = await waitFor(async () => viaHttps(s, 'www.example.com', ca.cert).catch(() => undefined), { timeoutMs: 10_000, what: 'HTTPS from the new data plane' });
  assert.equal(served3.fingerprint, leafPrint);

  // Removal: by an id prefix; the domain then 404s again.
  const badId = await cli(s, 'certs:remove', '-a', 'site', 'zz');
  assert.equal(badId.code, 2);
  const removed = await cli(s, 'certs:remove', '-a', 'site', id.slice(0, 12));
  assert.equal(removed.code, 0, removed.stderr);
  assert.deepEqual(await cliJson(s, 'certs', '-a', 'site', '--json'), []);
  await waitFor(async () => viaHttps(s, 'www.example.com', ca.cert).then(() => false, () => true), { timeoutMs: 10_000, what: 'the certificate no longer served' });
  assert.equal((await cli(s, 'domains:remove', '-a', 'site', 'www.example.com')).code, 0);
  await waitFor(async () => (await viaHost(s, 'www.example.com')).status === 404, { timeoutMs: 10_000, what: 'www.example.com gone' });
  const gone = await cli(s, 'domains:remove', '-a', 'site', 'www.example.com');
  assert.equal(gone.code, 5, gone.stderr);
  // Free again: the other app may take it now.
  assert.equal((await cli(s, 'domains:add', '-a', 'other', 'www.example.com')).code, 0);
});
