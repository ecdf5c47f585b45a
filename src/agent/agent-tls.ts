// TLS for the agent protocol without a certificate authority: each agent makes a self-signed
// certificate once (kept in its data directory) and prints its SHA-256 fingerprint; the control
// plane is given the agent's URL with that fingerprint (https://HOST:PORT#sha256=AB:CD:…) and
// talks to nothing else. Before any request (which carries the agent token) it reads the
// certificate the agent presents on a bare handshake, compares the fingerprint, and from then
// on trusts exactly that certificate.
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { isIP } from 'node:net';
import tls from 'node:tls';

export interface AgentCert {
  key: string;
  cert: string;
  /** AB:CD:… as `openssl x509 -fingerprint -sha256` and Node's fingerprint256 write it. */
  fingerprint: string;
}

/** The agent's key and certificate, made with `openssl` the first time. */
export async function loadOrMakeAgentCert(dir: string, hostId: string): Promise<AgentCert> {
  const keyFile = join(dir, 'agent-key.pem');
  const certFile = join(dir, 'agent-cert.pem');
  try {
    const [key, cert] = await Promise.all([readFile(keyFile, 'utf8'), readFile(certFile, 'utf8')]);
    return { key, cert, fingerprint: new X509Certificate(cert).fingerprint256 };
  } catch {
    // first start: make them
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await new Promise<void>((resolve, reject) => {
    execFile('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '3650',
      '-subj', `/CN=summon-agent-${hostId}`, '-keyout', `${keyFile}.tmp`, '-out', `${certFile}.tmp`,
    ], { timeout: 30_000 }, (err, _out, stderr) => (err ? reject(new Error(`making the agent's TLS certificate with openssl failed: ${stderr.trim() || err.message}`)) : resolve()));
  });
  await rename(`${keyFile}.tmp`, keyFile);
  await rename(`${certFile}.tmp`, certFile);
  return loadOrMakeAgentCert(dir, hostId);
}

const FINGERPRINT_RE = /^[0-9A-F]{2}(:[0-9A-F]{2}){31}$/;

/** `https://host:port#sha256=AB:CD:…` → the pinned fingerprint (upper case, colons). */
export function pinnedFingerprint(url: URL): string {
  const m = /^#sha256=(.+)$/i.exec(url.hash);
  const fp = m?.[1].toUpperCase().replace(/[^0-9A-F]/g, '').replace(/(..)(?!$)/g, '$1:');
  if (!fp || !FINGERPRINT_RE.test(fp)) {
    throw new Error(`an https agent URL must pin the agent's certificate: https://HOST:PORT#sha256=FINGERPRINT (what \`summon agent\` prints), got ${url.href}`);
  }
  return fp;
}

/** Connects, reads the presented certificate, and returns it as PEM if its fingerprint is the
 *  pinned one; nothing is sent over the connection. */
export function fetchPinnedCert(host: string, port: number, fingerprint: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = tls.connect({ host, port, rejectUnauthorized: false, ...(isIP(host) ? {} : { servername: host }) });
    const timer = setTimeout(() => sock.destroy(new Error(`no TLS handshake within ${timeoutMs} ms`)), timeoutMs);
    sock.once('secureConnect', () => {
      clearTimeout(timer);
      const peer = sock.getPeerCertificate(false);
      sock.destroy();
      if (!peer?.raw) return reject(new Error('the agent presented no certificate'));
      if (peer.fingerprint256 !== fingerprint) {
        return reject(new Error(`the agent's certificate is ${peer.fingerprint256}, not the pinned ${fingerprint}: refusing to send it the token`));
      }
      const b64 = peer.raw.toString('base64').replace(/(.{64})/g, '$1\n');
      resolve(`-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`);
    });
    sock.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}
