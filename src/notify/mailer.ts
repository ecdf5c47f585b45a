// Mail through nodemailer: one pooled SMTP transport per Mailer, MIME and header encoding by
// nodemailer (UTF-8, RFC 2047 words in headers, quoted-printable or base64 bodies), TLS
// certificates always verified, and a failure told as what went wrong and what to do.
import nodemailer from 'nodemailer';
import type SMTPPool from 'nodemailer/lib/smtp-pool/index.js';
import type { SmtpTarget } from './smtp-config.js';

export interface MailMessage {
  from: string;
  to: string[];
  subject: string;
  text: string;
  /** Extra headers (name → value). */
  headers?: Record<string, string>;
}

export interface SentMail {
  messageId: string;
  response: string;
  /** Recipients the relay refused while taking the message for the others. */
  rejected: string[];
}

export interface MailerOptions {
  /** Connecting, the greeting, and silence on an open connection (defaults 10 s, 10 s, 30 s). */
  connectionTimeoutMs?: number;
  greetingTimeoutMs?: number;
  socketTimeoutMs?: number;
  /** Connections the pool opens at most (default 2: notifications are few). */
  maxConnections?: number;
}

/** Why a delivery failed, in words for an operator, and whether asking again can help. */
export interface SmtpFailure {
  reason: string;
  /** A refused login, a refused certificate, a missing STARTTLS or a 5xx answer: the same again. */
  permanent: boolean;
  /** nodemailer's code (EAUTH, ESOCKET, ETIMEDOUT, EENVELOPE…) and the SMTP reply code, if any. */
  code: string | null;
  responseCode: number | null;
}

export class Mailer {
  private readonly transport: nodemailer.Transporter<SMTPPool.SentMessageInfo, SMTPPool.Options>;

  constructor(private readonly target: SmtpTarget, o: MailerOptions = {}) {
    this.transport = nodemailer.createTransport({
      pool: true,
      maxConnections: o.maxConnections ?? 2,
      // A pooled connection the relay dropped while idle is tried once more on a new one;
      // anything else comes back to the caller, which retries with backoff.
      maxRequeues: 1,
      host: target.host,
      port: target.port,
      secure: target.secure,
      requireTLS: target.requireTls,
      ...(target.auth ? { auth: { user: target.auth.user, pass: target.auth.pass }, forceAuth: true } : {}),
      tls: {
        rejectUnauthorized: true,
        minVersion: 'TLSv1.2',
        ...(target.ca ? { ca: target.ca } : {}),
      },
      connectionTimeout: o.connectionTimeoutMs ?? 10_000,
      greetingTimeout: o.greetingTimeoutMs ?? 10_000,
      socketTimeout: o.socketTimeoutMs ?? 30_000,
      logger: false,
      debug: false,
    } as SMTPPool.Options);
  }

  async send(m: MailMessage): Promise<SentMail> {
    const flat = (s: string) => s.replace(/[\r\n]+/g, ' ');
    const info = await this.transport.sendMail({
      from: m.from,
      to: m.to,
      subject: flat(m.subject),
      text: m.text,
      headers: Object.fromEntries(Object.entries(m.headers ?? {}).map(([k, v]) => [flat(k), flat(v)])),
      // the text is ours, never a file or URL to fetch
      disableFileAccess: true,
      disableUrlAccess: true,
    });
    return { messageId: info.messageId, response: info.response, rejected: (info.rejected ?? []).map(String) };
  }

  /** Closes the pool's connections. Call once nothing is being sent. */
  close(): void {
    this.transport.close();
  }

  explain(err: unknown): SmtpFailure {
    return explainSmtpError(err, this.target);
  }
}

const CERT = /certificate|altnames|self[- ]signed|unable to (verify|get)/i;

export function explainSmtpError(err: unknown, target: SmtpTarget): SmtpFailure {
  const e = err as Error & { code?: string; responseCode?: number; command?: string; reason?: string };
  const code = typeof e?.code === 'string' ? e.code : null;
  const responseCode = typeof e?.responseCode === 'number' ? e.responseCode : null;
  const msg = (e?.message ?? String(err)).replace(/\s+$/, '');
  const where = `${target.host}:${target.port}`;
  const out = (reason: string, permanent: boolean): SmtpFailure => ({ reason, permanent, code, responseCode });

  if (CERT.test(msg)) {
    const what = /altnames/.test(msg) ? `it is not a certificate for ${target.host} (${e.reason ?? msg})` : msg;
    const fix = target.ca
      ? 'check that --smtp-ca is the CA that signed it, and that --smtp names the host the certificate is for'
      : 'if the relay uses a private or self-signed CA, give its certificate with --smtp-ca FILE';
    return out(`the TLS certificate of ${where} was refused: ${what}; ${fix}`, true);
  }
  if (code === 'EAUTH') {
    const user = target.auth ? ` as ${JSON.stringify(target.auth.user)}` : '';
    const permanent = responseCode === null || responseCode >= 500;
    return out(`authentication failed: ${where} refused the login${user} (${msg}); check USER:PASSWORD in --smtp`, permanent);
  }
  if (/STARTTLS/.test(msg) || (code === 'ETLS' && !target.secure)) {
    return out(`${where} did not take STARTTLS (${msg}); ` +
      (target.auth ? 'with a user and password, Summon sends them only over TLS: use a relay that offers STARTTLS, or smtps://' : 'drop ?starttls=required to send without TLS, or use smtps://'), true);
  }
  if (/wrong version number|packet length too long|unknown protocol/i.test(msg)) {
    return out(`no TLS on ${where} (${e.reason ?? msg}): smtps:// is TLS from the first byte (usually port 465); ` +
      'for a relay that starts in plain text and offers STARTTLS (ports 25, 587) use smtp://', true);
  }
  if (code === 'ETIMEDOUT' && /Greeting never received/.test(msg) && !target.secure) {
    return out(`${where} sent no SMTP greeting: if it speaks TLS from the first byte (usually port 465) use smtps://`, false);
  }
  if (/Reached maximum number of retries after connection was closed/.test(msg)) {
    return out(`${where} closed the connection while the message was being sent`, false);
  }
  if (responseCode !== null) {
    const stage = e.command ? ` at ${e.command}` : '';
    return out(`${where} refused the message${stage}: ${msg}`, responseCode >= 500);
  }
  return out(`${where}: ${msg}`, false);
}
