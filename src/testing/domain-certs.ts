// Certificates for custom domains, made with openssl for the tests of `certs:add`: a CA, an
// intermediate it signs, and leaves with chosen DNS names and validity dates (`openssl ca`
// takes any start and end date, so an expired or not-yet-valid certificate is a real one).
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface Issuer {
  dir: string;
  name: string;
  certFile: string;
  keyFile: string;
  cert: string;
}

export interface IssuedCert {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

function openssl(args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { cwd, timeout: 30_000 }, (err, _out, stderr) =>
      (err ? reject(new Error(`openssl ${args[0]} failed: ${stderr.trim() || err.message}`)) : resolve()));
  });
}

let serial = 0;
/** openssl ca's date form, YYYYMMDDHHMMSSZ. */
const stamp = (ms: number) => new Date(ms).toISOString().replace(/[-:T]/g, '').replace(/\.\d{3}Z$/, 'Z');

const keyArgs = (kind: 'ec' | 'rsa' | 'rsa1024') =>
  kind === 'ec' ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'] : ['-newkey', kind === 'rsa' ? 'rsa:2048' : 'rsa:1024'];

/** A self-signed CA in `dir/name`. */
export async function makeCa(dir: string, name = 'Test CA'): Promise<Issuer> {
  const d = join(dir, name.replace(/\W+/g, '-').toLowerCase());
  await mkdir(d, { recursive: true });
  await openssl(['req', '-x509', ...keyArgs('ec'), '-nodes', '-days', '30', '-subj', `/CN=${name}`, '-keyout', 'key.pem', '-out', 'cert.pem',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], d);
  return { dir: d, name, certFile: join(d, 'cert.pem'), keyFile: join(d, 'key.pem'), cert: await readFile(join(d, 'cert.pem'), 'utf8') };
}

/**
 * A certificate signed by `by` for `hosts` (subjectAltName DNS names; none: a CN only),
 * valid from `start` to `end` (epoch ms; default: an hour ago to 30 days on); `ca` makes it an
 * intermediate CA.
 */
export async function issue(by: Issuer, o: { cn: string; hosts?: string[]; start?: number; end?: number; ca?: boolean; key?: 'ec' | 'rsa' | 'rsa1024' }): Promise<IssuedCert & Issuer> {
  const n = ++serial;
  const base = `leaf-${process.pid}-${n}`;
  const d = by.dir;
  await openssl(['req', ...keyArgs(o.key ?? 'ec'), '-nodes', '-subj', `/CN=${o.cn}`, '-keyout', `${base}-key.pem`, '-out', `${base}.csr`], d);
  const ext = o.ca
    ? 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n'
    : `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n${o.hosts?.length ? `subjectAltName=${o.hosts.map((h) => `DNS:${h}`).join(',')}\n` : ''}`;
  await writeFile(join(d, `${base}.cnf`), [
    '[ca]', 'default_ca = d', '[d]', `database = ${base}.index`, 'new_certs_dir = .', `serial = ${base}.serial`, 'default_md = sha256',
    'policy = p', 'unique_subject = no', 'copy_extensions = none', '[p]', 'commonName = supplied', '[ext]', ext,
  ].join('\n'));
  await writeFile(join(d, `${base}.index`), '');
  await writeFile(join(d, `${base}.serial`), `${(Date.now() * 1000 + n).toString(16).padStart(16, '0')}\n`);
  const now = Date.now();
  await openssl(['ca', '-batch', '-config', `${base}.cnf`, '-cert', by.certFile, '-keyfile', by.keyFile, '-in', `${base}.csr`, '-out', `${base}.pem`,
    '-startdate', stamp(o.start ?? now - 3_600_000), '-enddate', stamp(o.end ?? now + 30 * 86_400_000), '-extensions', 'ext', '-notext'], d);
  const certFile = join(d, `${base}.pem`);
  const keyFile = join(d, `${base}-key.pem`);
  const [cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
  return { dir: d, name: o.cn, certFile, keyFile, cert, key };
}
