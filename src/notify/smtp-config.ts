// What `--smtp URL` and `--smtp-ca FILE` mean, checked at `summon up` with the flag named.
//
//   smtp://[USER:PASSWORD@]HOST[:PORT][?starttls=required]   port 25 by default; STARTTLS when the
//       relay offers it. With ?starttls=required, or with a user and password, a relay that does
//       not offer it is not sent anything: a password never crosses the network in the clear.
//   smtps://[USER:PASSWORD@]HOST[:PORT]                       TLS from the first byte, port 465 by default.
//
// USER and PASSWORD are percent-decoded (smtps://ops%40example.com:p%3Ass@mail.example.com).
// Certificates are always verified: against the system CAs, or only against the CA in --smtp-ca.
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { InvalidInputError } from '../core/errors.js';

export interface SmtpTarget {
  /** TLS from the first byte (smtps://); otherwise plain TCP, upgraded with STARTTLS. */
  secure: boolean;
  host: string;
  port: number;
  /** smtp:// only: refuse to go on without STARTTLS. Always true with credentials. */
  requireTls: boolean;
  auth: { user: string; pass: string } | null;
  /** PEM of the CA to verify the relay's certificate with (--smtp-ca), instead of the system's. */
  ca: string | null;
  /** The URL as it may be shown: the password replaced by ***. */
  shown: string;
}

const EXAMPLES = 'smtp://mail.example.com:25, smtp://USER:PASSWORD@mail.example.com:587?starttls=required or smtps://USER:PASSWORD@mail.example.com:465';

/** The URL with its password (if any) replaced by `***`, for messages and logs. */
export function shownSmtpUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/?#@:]*):[^/?#]*@/i, '$1:***@');
}

function decode(part: string, what: string, shown: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new InvalidInputError(`--smtp: the ${what} in ${shown} is not percent-encoded correctly (write @ as %40, : as %3A, / as %2F, % as %25)`);
  }
}

/** Parses and checks the --smtp URL (the CA is added by checkSmtp). */
export function parseSmtpUrl(url: string): Omit<SmtpTarget, 'ca'> {
  const shown = shownSmtpUrl(url);
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new InvalidInputError(`--smtp must be a URL like ${EXAMPLES}; got ${JSON.stringify(shown)}`);
  }
  if (u.protocol !== 'smtp:' && u.protocol !== 'smtps:') {
    throw new InvalidInputError(`--smtp must start with smtp:// (STARTTLS when offered) or smtps:// (TLS from the start), got ${JSON.stringify(shown)}`);
  }
  const secure = u.protocol === 'smtps:';
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (!host) throw new InvalidInputError(`--smtp needs a host, like ${EXAMPLES}; got ${JSON.stringify(shown)}`);
  if (u.pathname !== '' && u.pathname !== '/') throw new InvalidInputError(`--smtp takes no path, got ${JSON.stringify(shown)}`);
  if (u.hash) throw new InvalidInputError(`--smtp takes no #fragment, got ${JSON.stringify(shown)}`);
  const port = u.port ? Number(u.port) : secure ? 465 : 25;
  if (port < 1) throw new InvalidInputError(`--smtp needs a port from 1 to 65535, got ${JSON.stringify(shown)}`);

  let requireTls = false;
  for (const [key, value] of u.searchParams) {
    if (key !== 'starttls') throw new InvalidInputError(`--smtp knows only the ?starttls=required parameter, got ?${key}= in ${JSON.stringify(shown)}`);
    if (secure) throw new InvalidInputError(`--smtp: ?starttls= is for smtp:// only; smtps:// is TLS from the first byte (${JSON.stringify(shown)})`);
    if (value !== 'required' && value !== 'auto') {
      throw new InvalidInputError(`--smtp: starttls must be required (refuse a relay without STARTTLS) or auto (the default: STARTTLS when offered), got ${JSON.stringify(value)}`);
    }
    requireTls = value === 'required';
  }

  let auth: SmtpTarget['auth'] = null;
  if (u.username || u.password) {
    const user = decode(u.username, 'user name', shown);
    const pass = decode(u.password, 'password', shown);
    if (!user) throw new InvalidInputError(`--smtp has a password but no user name: write ${u.protocol}//USER:PASSWORD@${u.host}`);
    if (!pass) throw new InvalidInputError(`--smtp has a user name but no password: write ${u.protocol}//USER:PASSWORD@${u.host} (percent-encode @ : / % in them)`);
    auth = { user, pass };
    // The password goes only over TLS: STARTTLS or nothing.
    if (!secure) requireTls = true;
  }
  return { secure, host, port, requireTls, auth, shown };
}

/** Reads the --smtp-ca file: one or more PEM certificates. */
export function readSmtpCa(file: string): string {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new InvalidInputError(`--smtp-ca ${file} cannot be read (${code}): give the PEM file of the CA that signed the relay's certificate`);
  }
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (!blocks.length) {
    throw new InvalidInputError(`--smtp-ca ${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----): give the CA certificate, not a key or a DER file (openssl x509 -inform der -in FILE -out ca.pem converts one)`);
  }
  for (const [i, b] of blocks.entries()) {
    try {
      new X509Certificate(b);
    } catch (e) {
      throw new InvalidInputError(`--smtp-ca ${file}: certificate ${i + 1} cannot be parsed (${(e as Error).message})`);
    }
  }
  return blocks.join('\n');
}

export function checkSmtp(url: string, caFile?: string): SmtpTarget {
  const target = parseSmtpUrl(url);
  return { ...target, ca: caFile === undefined ? null : readSmtpCa(caFile) };
}

const ADDRESS = /^[^\s<>@,"]+@[^\s<>@,"]+$/;
export function checkAddress(flag: string, a: string): string {
  if (!ADDRESS.test(a)) throw new InvalidInputError(`${flag} must be an email address like ops@example.com, got ${JSON.stringify(a)}`);
  return a;
}
