// A private CA and a server certificate it signed, made with openssl for tests and benchmarks
// that run TLS receivers on loopback (syslog+tls and https drains, rsyslog).
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface TestCerts {
  caFile: string;
  certFile: string;
  keyFile: string;
  ca: string;
  cert: string;
  key: string;
}

function openssl(args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { cwd, timeout: 30_000 }, (err, _out, stderr) =>
      (err ? reject(new Error(`openssl ${args[0]} failed: ${stderr.trim() || err.message}`)) : resolve()));
  });
}

/** In `dir`: ca.pem (a CA), server.pem / server-key.pem for 127.0.0.1, ::1 and localhost. */
export async function makeTestCerts(dir: string, name = 'Summon test'): Promise<TestCerts> {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  await openssl(['req', '-x509', ...ec, '-days', '2', '-subj', `/CN=${name} CA`, '-keyout', 'ca-key.pem', '-out', 'ca.pem',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  await openssl(['req', ...ec, '-subj', '/CN=localhost', '-keyout', 'server-key.pem', '-out', 'server.csr'], dir);
  await writeFile(join(dir, 'server.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\n');
  await openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-set_serial', String(Date.now()),
    '-days', '2', '-extfile', 'server.ext', '-out', 'server.pem'], dir);
  const caFile = join(dir, 'ca.pem');
  const certFile = join(dir, 'server.pem');
  const keyFile = join(dir, 'server-key.pem');
  const [ca, cert, key] = await Promise.all([readFile(caFile, 'utf8'), readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
  return { caFile, certFile, keyFile, ca, cert, key };
}
