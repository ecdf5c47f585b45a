// The certs:add checks on real certificates made here with openssl (src/testing/domain-certs.ts).
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { X509Certificate } from 'node:crypto';
import { checkCertificate, coveredDomains } from './certs.js';
import { issue, makeCa, type IssuedCert, type Issuer } from '../testing/domain-certs.js';

let dir: string;
let ca: Issuer;
let inter: IssuedCert & Issuer;
let leaf: IssuedCert;
let other: IssuedCert;
const DOMAINS = ['www.example.com', 'shop.example.com'];
const DAY = 86_400_000;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'summon-certs-'));
  ca = await makeCa(dir, 'Test Root');
  inter = await issue(ca, { cn: 'Test Intermediate', ca: true });
  leaf = await issue(inter, { cn: 'www.example.com', hosts: ['www.example.com', '*.example.org'] });
  other = await issue(inter, { cn: 'other', hosts: ['other.example.net'] });
});
after(() => rm(dir, { recursive: true, force: true }));

function refusal(f: () => unknown, re: RegExp, field: 'cert' | 'key'): void {
  assert.throws(f, (e: Error & { code?: string; details?: { field?: string } }) => {
    assert.equal(e.code, 'invalid_input');
    assert.match(e.message, re);
    assert.equal(e.details?.field, field);
    return true;
  });
}

test('a leaf with its chain: the domains it covers, issuer, dates, id, the chain in issuing order', () => {
  const c = checkCertificate(`${leaf.cert}${inter.cert}`, leaf.key, DOMAINS, Date.now());
  assert.deepEqual(c.hosts, ['www.example.com', '*.example.org']);
  assert.deepEqual(c.covers, ['www.example.com']);
  assert.equal(c.issuer, 'Test Intermediate');
  assert.equal(c.subject, 'www.example.com');
  const x = new X509Certificate(leaf.cert);
  assert.equal(c.notAfter, Date.parse(x.validTo));
  assert.equal(c.notBefore, Date.parse(x.validFrom));
  assert.match(c.id, /^[0-9a-f]{64}$/);
  const blocks = c.certPem.match(/-----BEGIN CERTIFICATE-----/g) ?? [];
  assert.equal(blocks.length, 2);
  assert.equal(new X509Certificate(c.certPem).subject, x.subject, 'the leaf comes first');
  assert.match(c.keyPem, /^-----BEGIN PRIVATE KEY-----/);
});

test('chain order: given root, intermediate and leaf in any order, served leaf → intermediate → root', () => {
  const c = checkCertificate(`${ca.cert}${inter.cert}${leaf.cert}`, leaf.key, DOMAINS, Date.now());
  const subjects = [...c.certPem.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)].map((m) => new X509Certificate(m[0]).subject);
  assert.deepEqual(subjects, ['CN=www.example.com', 'CN=Test Intermediate', 'CN=Test Root']);
});

test('a chain certificate that did not issue the one before it is refused', () => {
  refusal(() => checkCertificate(`${leaf.cert}${other.cert}`, leaf.key, DOMAINS, Date.now()), /chain does not follow on from www\.example\.com: other did not issue it/, 'cert');
});

test('expired and not yet valid (the same certificate, checked at times outside its dates; and one issued already expired)', async () => {
  const x = new X509Certificate(leaf.cert);
  refusal(() => checkCertificate(leaf.cert, leaf.key, DOMAINS, Date.parse(x.validTo) + DAY), /expired on \d{4}-\d\d-\d\dT/, 'cert');
  refusal(() => checkCertificate(leaf.cert, leaf.key, DOMAINS, Date.parse(x.validFrom) - DAY), /is not valid until \d{4}-/, 'cert');
  const old = await issue(inter, { cn: 'old', hosts: ['www.example.com'], start: Date.now() - 90 * DAY, end: Date.now() - 30 * DAY });
  refusal(() => checkCertificate(old.cert, old.key, DOMAINS, Date.now()), /certificate for old expired on/, 'cert');
  const future = await issue(inter, { cn: 'future', hosts: ['www.example.com'], start: Date.now() + 10 * DAY, end: Date.now() + 40 * DAY });
  refusal(() => checkCertificate(future.cert, future.key, DOMAINS, Date.now()), /certificate for future is not valid until/, 'cert');
});

test('key mismatch', () => {
  refusal(() => checkCertificate(leaf.cert, other.key, DOMAINS, Date.now()), /the key does not match the certificate \(www\.example\.com\)/, 'key');
  refusal(() => checkCertificate(`${leaf.cert}${inter.cert}`, other.key, DOMAINS, Date.now()), /does not match the certificates \(www\.example\.com, Test Intermediate\)/, 'key');
});

test('covers none of the app\'s domains (and an app with none)', () => {
  refusal(() => checkCertificate(other.cert, other.key, DOMAINS, Date.now()), /covers other\.example\.net, none of them the app's domains \(www\.example\.com, shop\.example\.com\)/, 'cert');
  refusal(() => checkCertificate(leaf.cert, leaf.key, [], Date.now()), /it has none: add one with `summon domains:add` first/, 'cert');
});

test('wildcards: *.example.org covers one label more, not the apex nor two more', () => {
  assert.deepEqual(checkCertificate(leaf.cert, leaf.key, ['a.example.org', 'example.org', 'a.b.example.org', '*.example.org'], Date.now()).covers, ['a.example.org', '*.example.org']);
  assert.deepEqual(coveredDomains(['*.example.org'], ['example.org']), []);
  refusal(() => checkCertificate(leaf.cert, leaf.key, ['example.org', 'a.b.example.org'], Date.now()), /none of them/, 'cert');
});

test('a certificate with no subjectAltName', async () => {
  const bare = await issue(inter, { cn: 'www.example.com' });
  refusal(() => checkCertificate(bare.cert, bare.key, DOMAINS, Date.now()), /names no DNS name in its subjectAltName/, 'cert');
});

test('keys: RSA 2048 taken, RSA 1024 refused, encrypted refused', async () => {
  const rsa = await issue(inter, { cn: 'rsa', hosts: ['www.example.com'], key: 'rsa' });
  assert.deepEqual(checkCertificate(rsa.cert, rsa.key, DOMAINS, Date.now()).covers, ['www.example.com']);
  const weak = await issue(inter, { cn: 'weak', hosts: ['www.example.com'], key: 'rsa1024' });
  refusal(() => checkCertificate(weak.cert, weak.key, DOMAINS, Date.now()), /RSA key has 1024 bits, fewer than the 2048/, 'key');
  const { createPrivateKey } = await import('node:crypto');
  const enc = createPrivateKey(leaf.key).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'x' }).toString();
  refusal(() => checkCertificate(leaf.cert, enc, DOMAINS, Date.now()), /private key is encrypted/, 'key');
});

test('garbage: not PEM, a broken block, files swapped, too many blocks, too large', () => {
  refusal(() => checkCertificate('hello', leaf.key, DOMAINS, Date.now()), /holds no PEM block/, 'cert');
  refusal(() => checkCertificate('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', leaf.key, DOMAINS, Date.now()), /block 1 of the certificate file is not a certificate that parses/, 'cert');
  refusal(() => checkCertificate(leaf.key, leaf.cert, DOMAINS, Date.now()), /certificate file holds a private key/, 'cert');
  refusal(() => checkCertificate(leaf.cert, leaf.cert, DOMAINS, Date.now()), /key file holds a certificate/, 'key');
  refusal(() => checkCertificate(leaf.cert, 'garbage', DOMAINS, Date.now()), /key file holds no PEM block/, 'key');
  refusal(() => checkCertificate(leaf.cert, '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n', DOMAINS, Date.now()), /private key does not parse/, 'key');
  refusal(() => checkCertificate(leaf.cert.repeat(11), leaf.key, DOMAINS, Date.now()), /holds 11 certificates, more than the 10/, 'cert');
  refusal(() => checkCertificate('x'.repeat(70_000), leaf.key, DOMAINS, Date.now()), /more than the 64K/, 'cert');
  refusal(() => checkCertificate(`${leaf.cert}-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n`, leaf.key, DOMAINS, Date.now()), /block 2 of the certificate file is a PUBLIC KEY/, 'cert');
});
