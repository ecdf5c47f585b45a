// Uploaded certificates (`summon certs:add`): a PEM certificate with its chain and the PEM
// private key, checked before anything is stored, each refusal saying what was wrong:
//   - not PEM, or a block that does not parse (the block's number is named);
//   - more than MAX_CHAIN certificates, or a file past its size limit;
//   - a key that is encrypted, not a private key, or of a kind or size not served;
//   - no certificate of the file is the key's (key mismatch);
//   - the leaf expired, or not valid yet;
//   - the leaf names no DNS name (subjectAltName) that covers one of the app's domains;
//   - a certificate of the chain that does not issue the one before it.
// The chain may come in any order: the leaf is the certificate the key matches, and the rest
// are put in issuing order after it (what HAProxy and node:tls serve). Pure, on node:crypto's
// X509Certificate; every refusal is in certs.test.ts.
import { createHash, createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { nameCovers } from './domains.js';
import { InvalidInputError } from './errors.js';

export const MAX_CERT_PEM_BYTES = 64 * 1024;
export const MAX_KEY_PEM_BYTES = 16 * 1024;
export const MAX_CHAIN = 10;
/** Most certificates one app may hold. */
export const MAX_CERTS_PER_APP = 20;
export const MIN_RSA_BITS = 2048;

export interface CheckedCert {
  /** sha256 of the leaf's DER, hex. */
  id: string;
  /** The leaf's DNS names (subjectAltName), lower case, as written (wildcards as *.example.com). */
  hosts: string[];
  /** The app's domains it covers. */
  covers: string[];
  issuer: string;
  subject: string;
  notBefore: number;
  notAfter: number;
  /** Leaf first, then the chain in issuing order, PEM. */
  certPem: string;
  /** The key, PEM (PKCS#8). */
  keyPem: string;
}

const PEM_RE = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/g;

function refuse(message: string, field: 'cert' | 'key'): InvalidInputError {
  return new InvalidInputError(message, { field });
}

/** The CERTIFICATE blocks of `pem`, parsed, in file order. */
function parseCerts(pem: string): X509Certificate[] {
  if (Buffer.byteLength(pem) > MAX_CERT_PEM_BYTES) throw refuse(`the certificate file is ${Buffer.byteLength(pem)} bytes, more than the ${MAX_CERT_PEM_BYTES / 1024}K a certificate and its chain may take`, 'cert');
  const blocks = [...pem.matchAll(PEM_RE)];
  if (blocks.length === 0) throw refuse('the certificate file holds no PEM block (-----BEGIN CERTIFICATE-----): give the certificate in PEM, e.g. `openssl x509 -in cert.der -inform der -out cert.pem`', 'cert');
  const certs: X509Certificate[] = [];
  for (const [i, b] of blocks.entries()) {
    if (b[1] === 'PRIVATE KEY' || b[1].endsWith(' PRIVATE KEY')) throw refuse(`the certificate file holds a private key (block ${i + 1}): give the key with --key and the certificate with --cert`, 'cert');
    if (b[1] !== 'CERTIFICATE') throw refuse(`block ${i + 1} of the certificate file is a ${b[1]}, not a CERTIFICATE`, 'cert');
    try {
      certs.push(new X509Certificate(b[0]));
    } catch (e) {
      throw refuse(`block ${i + 1} of the certificate file is not a certificate that parses (${(e as Error).message})`, 'cert');
    }
  }
  if (certs.length > MAX_CHAIN) throw refuse(`the certificate file holds ${certs.length} certificates, more than the ${MAX_CHAIN} a leaf and its chain may have`, 'cert');
  return certs;
}

function parseKey(pem: string): KeyObject {
  if (Buffer.byteLength(pem) > MAX_KEY_PEM_BYTES) throw refuse(`the key file is ${Buffer.byteLength(pem)} bytes, more than the ${MAX_KEY_PEM_BYTES / 1024}K a private key may take`, 'key');
  const blocks = [...pem.matchAll(PEM_RE)];
  if (blocks.length === 0) throw refuse('the key file holds no PEM block (-----BEGIN PRIVATE KEY-----): give the private key in PEM', 'key');
  if (blocks.length > 1) throw refuse(`the key file holds ${blocks.length} PEM blocks: give the one private key alone`, 'key');
  const kind = blocks[0][1];
  if (kind === 'CERTIFICATE') throw refuse('the key file holds a certificate: give the private key with --key and the certificate with --cert', 'key');
  if (kind === 'ENCRYPTED PRIVATE KEY' || /Proc-Type: 4,ENCRYPTED/.test(blocks[0][2])) {
    throw refuse('the private key is encrypted: Summon keeps it encrypted itself; decrypt it first (`openssl pkey -in key.pem -out plain.pem`)', 'key');
  }
  if (!kind.endsWith('PRIVATE KEY')) throw refuse(`the key file holds a ${kind}, not a PRIVATE KEY`, 'key');
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: blocks[0][0], format: 'pem' });
  } catch (e) {
    throw refuse(`the private key does not parse (${(e as Error).message})`, 'key');
  }
  const type = key.asymmetricKeyType;
  if (type === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) throw refuse(`the RSA key has ${bits} bits, fewer than the ${MIN_RSA_BITS} clients accept`, 'key');
  } else if (type !== 'ec' && type !== 'rsa-pss') {
    throw refuse(`the key is ${type ?? 'of an unknown type'}: Summon serves RSA (${MIN_RSA_BITS} bits or more) and ECDSA keys`, 'key');
  }
  return key;
}

/** The DNS names of a certificate's subjectAltName, lower case. */
export function dnsNames(c: X509Certificate): string[] {
  const san = c.subjectAltName;
  if (!san) return [];
  // "DNS:a.example.com, DNS:*.example.com, IP Address:1.2.3.4"; a name with ", " in it would be
  // quoted by node, and is no hostname anyway.
  return [...new Set(san.split(/,\s*/).filter((p) => p.startsWith('DNS:')).map((p) => p.slice(4).toLowerCase()))];
}

function cn(dn: string): string {
  const m = /(?:^|\n)CN=([^\n]*)/.exec(dn);
  return m ? m[1] : dn.split('\n').join(', ');
}

const day = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * Checks a certificate (with its chain) and its key for an app owning `domains` at time `now`.
 * Throws InvalidInputError naming the first thing wrong (details.field: cert or key).
 */
export function checkCertificate(certPem: string, keyPem: string, domains: readonly string[], now: number): CheckedCert {
  if (typeof certPem !== 'string' || typeof keyPem !== 'string') throw refuse('give the certificate and the key as PEM text', 'cert');
  const certs = parseCerts(certPem);
  const key = parseKey(keyPem);
  const leafAt = certs.findIndex((c) => {
    try {
      return c.checkPrivateKey(key);
    } catch {
      return false;
    }
  });
  if (leafAt < 0) {
    const names = certs.map((c) => cn(c.subject)).join(', ');
    throw refuse(`the key does not match the certificate${certs.length > 1 ? 's' : ''} (${names}): give the key the certificate was issued for`, 'key');
  }
  const leaf = certs[leafAt];
  const notBefore = Date.parse(leaf.validFrom);
  const notAfter = Date.parse(leaf.validTo);
  if (now > notAfter) throw refuse(`the certificate for ${cn(leaf.subject)} expired on ${day(notAfter)}: renew it with its issuer and add the new one`, 'cert');
  if (now < notBefore) throw refuse(`the certificate for ${cn(leaf.subject)} is not valid until ${day(notBefore)}: add it then, or check this machine's clock`, 'cert');
  const hosts = dnsNames(leaf);
  if (hosts.length === 0) {
    throw refuse(`the certificate for ${cn(leaf.subject)} names no DNS name in its subjectAltName (clients ignore the CN): issue it with the app's domains as subjectAltNames`, 'cert');
  }
  const covers = domains.filter((d) => hosts.some((h) => nameCovers(h, d)));
  if (covers.length === 0) {
    const owned = domains.length ? `the app's domains (${domains.join(', ')})` : 'a domain of the app (it has none: add one with `summon domains:add` first)';
    throw refuse(`the certificate covers ${hosts.join(', ')}, none of them ${owned}`, 'cert');
  }
  // The chain after the leaf, each the issuer of the one before it.
  const rest = certs.filter((_, i) => i !== leafAt);
  const chain: X509Certificate[] = [leaf];
  while (rest.length > 0) {
    const last = chain[chain.length - 1];
    const next = rest.findIndex((c) => last.checkIssued(c) && verifies(last, c));
    if (next < 0) {
      throw refuse(`the chain does not follow on from ${cn(last.subject)}: ${rest.map((c) => cn(c.subject)).join(', ')} did not issue it (give the leaf and the intermediates that issued it)`, 'cert');
    }
    chain.push(rest.splice(next, 1)[0]);
  }
  return {
    id: createHash('sha256').update(leaf.raw).digest('hex'),
    hosts, covers,
    issuer: cn(leaf.issuer), subject: cn(leaf.subject),
    notBefore, notAfter,
    certPem: chain.map((c) => c.toString().trim()).join('\n') + '\n',
    keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

function verifies(child: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return child.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/** The app's domains a stored certificate covers (its hosts against the domains now). */
export function coveredDomains(hosts: readonly string[], domains: readonly string[]): string[] {
  return domains.filter((d) => hosts.some((h) => nameCovers(h, d)));
}
