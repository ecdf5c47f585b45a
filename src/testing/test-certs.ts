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

export interface HostCert {
  /** The leaf, then the intermediate that signed it (what a server sends). */
  chainPem: string;
  leafPem: string;
  keyPem: string;
}

export interface TestPki {
  /** The root a client trusts (it signed only the intermediate). */
  rootPem: string;
  /** A leaf for `names` (DNS SANs, wildcards allowed), signed by the intermediate. */
  issue(names: string[], o?: { days?: number; file?: string }): Promise<HostCert>;
}

/** In `dir`: a root, an intermediate it signed, and leaves the intermediate signs on demand,
 *  so a client that trusts only the root is served a chain or fails. */
export async function makeTestPki(dir: string, name = 'Summon test PKI'): Promise<TestPki> {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  await openssl(['req', '-x509', ...ec, '-days', '3', '-subj', `/CN=${name} root`, '-keyout', 'root-key.pem', '-out', 'root.pem',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  await openssl(['req', ...ec, '-subj', `/CN=${name} intermediate`, '-keyout', 'int-key.pem', '-out', 'int.csr'], dir);
  await writeFile(join(dir, 'int.ext'), 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n');
  await openssl(['x509', '-req', '-in', 'int.csr', '-CA', 'root.pem', '-CAkey', 'root-key.pem', '-set_serial', String(Date.now()),
    '-days', '3', '-extfile', 'int.ext', '-out', 'int.pem'], dir);
  const [rootPem, intPem] = await Promise.all([readFile(join(dir, 'root.pem'), 'utf8'), readFile(join(dir, 'int.pem'), 'utf8')]);
  let n = 0;
  return {
    rootPem,
    issue: async (names, o = {}) => {
      const f = o.file ?? `leaf${++n}`;
      await openssl(['req', ...ec, '-subj', `/CN=${names[0]}`, '-keyout', `${f}-key.pem`, '-out', `${f}.csr`], dir);
      await writeFile(join(dir, `${f}.ext`), `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=${names.map((h) => `DNS:${h}`).join(',')}\n`);
      await openssl(['x509', '-req', '-in', `${f}.csr`, '-CA', 'int.pem', '-CAkey', 'int-key.pem', '-set_serial', String(Date.now() + n),
        '-days', String(o.days ?? 2), '-extfile', `${f}.ext`, '-out', `${f}.pem`], dir);
      const [leafPem, keyPem] = await Promise.all([readFile(join(dir, `${f}.pem`), 'utf8'), readFile(join(dir, `${f}-key.pem`), 'utf8')]);
      return { leafPem, keyPem, chainPem: leafPem + intPem };
    },
  };
}
