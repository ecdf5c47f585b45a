// A real SMTP server for tests (the smtp-server package) that keeps every message it takes:
// plain, STARTTLS or TLS from the first byte, with AUTH PLAIN/LOGIN against a user list, and
// a reader of what arrived (headers unfolded and RFC 2047 decoded, the body transfer-decoded)
// written here rather than taken from the sender's library, so an encoding bug shows.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  /** Envelope sender and recipients. */
  from: string;
  to: string[];
  /** The message as it came over DATA (CRLF line ends, dots un-stuffed). */
  raw: string;
  /** Header fields, lower-case names, unfolded and decoded; the first of each name. */
  headers: Record<string, string>;
  subject: string;
  /** The body, transfer-decoded, as UTF-8, with \n line ends. */
  text: string;
  /** Who logged in (AUTH), or null; whether the connection was TLS when the mail came. */
  user: string | null;
  secure: boolean;
}

export interface MailboxOptions {
  /** Key and certificate (PEM): STARTTLS is offered, or with `secure` TLS from the first byte. */
  tls?: { key: string; cert: string };
  secure?: boolean;
  /** AUTH PLAIN and LOGIN (only over TLS) against these; a mail needs a login. Default: no AUTH. */
  users?: Record<string, string>;
  /** The first this many messages are answered 451 (try again later). */
  tempFailures?: number;
}

export interface Mailbox {
  port: number;
  /** Every message taken, in order. */
  mails: ReceivedMail[];
  /** Every AUTH attempt: the user name and whether it was let in. */
  logins: { user: string; ok: boolean }[];
  /** Connections made to it so far; messages answered 451 so far (`tempFailures`). */
  connections: () => number;
  deferred: () => number;
  close(): Promise<void>;
}

export async function startMailbox(o: MailboxOptions = {}): Promise<Mailbox> {
  const mails: ReceivedMail[] = [];
  const logins: Mailbox['logins'] = [];
  let connections = 0;
  let failuresLeft = o.tempFailures ?? 0;
  let deferred = 0;
  const disabled = [...(o.tls ? [] : ['STARTTLS']), ...(o.users ? [] : ['AUTH'])];
  const smtp = new SMTPServer({
    logger: false,
    secure: o.secure === true,
    ...(o.tls ? { key: o.tls.key, cert: o.tls.cert } : {}),
    disabledCommands: disabled,
    authOptional: !o.users,
    authMethods: ['PLAIN', 'LOGIN'],
    // A client still connected when the test closes the mailbox is told 421 and cut soon.
    closeTimeout: 500,
    onConnect(_session, cb) {
      connections++;
      cb();
    },
    onAuth(auth, _session, cb) {
      const ok = o.users !== undefined && auth.username !== undefined && o.users[auth.username] === auth.password;
      logins.push({ user: auth.username ?? '', ok });
      if (ok) cb(null, { user: auth.username });
      else cb(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (failuresLeft > 0) {
          failuresLeft--;
          deferred++;
          cb(Object.assign(new Error('try again later'), { responseCode: 451 }));
          return;
        }
        const raw = Buffer.concat(chunks).toString('utf8');
        const mailFrom = session.envelope.mailFrom;
        mails.push({
          from: mailFrom ? mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw,
          ...readMail(raw),
          user: typeof session.user === 'string' ? session.user : null,
          secure: session.secure,
        });
        cb();
      });
    },
  });
  // A client that hangs up mid-handshake (a refused certificate) is no failure of the server.
  smtp.on('error', () => undefined);
  await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', () => r()));
  return {
    port: (smtp.server.address() as { port: number }).port,
    mails,
    logins,
    connections: () => connections,
    deferred: () => deferred,
    close: () => new Promise<void>((r) => smtp.close(() => r())),
  };
}

/** Headers and body of one single-part message. */
export function readMail(raw: string): { headers: Record<string, string>; subject: string; text: string } {
  const split = raw.indexOf('\r\n\r\n');
  const head = split < 0 ? raw : raw.slice(0, split);
  const body = split < 0 ? '' : raw.slice(split + 4);
  const headers: Record<string, string> = {};
  // Unfolding removes the CRLF before a line that starts with white space (RFC 5322 2.2.3).
  for (const line of head.replace(/\r\n(?=[ \t])/g, '').split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    headers[name] ??= decodeWords(line.slice(colon + 1).trim());
  }
  const cte = (headers['content-transfer-encoding'] ?? '7bit').toLowerCase();
  const bytes = cte === 'base64' ? Buffer.from(body.replace(/\s+/g, ''), 'base64')
    : cte === 'quoted-printable' ? decodeQuotedPrintable(body)
      : Buffer.from(body, 'utf8');
  return { headers, subject: headers.subject ?? '', text: bytes.toString('utf8').replace(/\r\n/g, '\n') };
}

function decodeQuotedPrintable(s: string): Buffer {
  const soft = s.replace(/=\r\n/g, '');
  const out: number[] = [];
  for (let i = 0; i < soft.length; i++) {
    if (soft[i] === '=' && /^[0-9A-F]{2}$/i.test(soft.slice(i + 1, i + 3))) {
      out.push(parseInt(soft.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      out.push(...Buffer.from(soft[i], 'utf8'));
    }
  }
  return Buffer.from(out);
}

/** RFC 2047: =?charset?B|Q?text?= words, the white space between two of them dropped. */
export function decodeWords(value: string): string {
  const word = /=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g;
  const joined = value.replace(/(\?=)[ \t]+(?==\?)/g, '$1');
  return joined.replace(word, (_m, charset: string, enc: string, text: string) => {
    const bytes = enc.toUpperCase() === 'B' ? Buffer.from(text, 'base64')
      : Buffer.from(text.replace(/_/g, ' ').replace(/=([0-9A-F]{2})/gi, (_x, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1');
    return new TextDecoder(charset).decode(bytes);
  });
}

export interface TestCert {
  key: string;
  cert: string;
  keyFile: string;
  certFile: string;
}

/** A self-signed certificate (its own CA) for 127.0.0.1 and localhost, made with openssl in `dir`. */
export async function makeCert(dir: string, name = 'relay'): Promise<TestCert> {
  const keyFile = join(dir, `${name}-key.pem`);
  const certFile = join(dir, `${name}-cert.pem`);
  await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile,
    '-days', '2', '-subj', `/CN=${name} test CA`, '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost']);
  return { key: await readFile(keyFile, 'utf8'), cert: await readFile(certFile, 'utf8'), keyFile, certFile };
}
