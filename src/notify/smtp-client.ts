// A small SMTP client over node:net: EHLO, MAIL FROM, RCPT TO, DATA, QUIT, with dot-stuffing.
// Enough for plain-text notifications to a relay on a trusted network (no STARTTLS, no AUTH).
import { connect, type Socket } from 'node:net';
import { InvalidInputError } from '../core/errors.js';

export interface SmtpTarget {
  host: string;
  port: number;
}

export interface MailMessage {
  from: string;
  to: string[];
  subject: string;
  text: string;
  /** Extra headers (name → value); values must not contain line breaks. */
  headers?: Record<string, string>;
}

/** Parses `smtp://host[:port]` (port 25 by default). */
export function parseSmtpUrl(url: string): SmtpTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new InvalidInputError(`--smtp must be a URL like smtp://127.0.0.1:25, got ${JSON.stringify(url)}`);
  }
  if (u.protocol !== 'smtp:') throw new InvalidInputError(`--smtp must start with smtp://, got ${JSON.stringify(url)}`);
  if (!u.hostname) throw new InvalidInputError(`--smtp needs a host, got ${JSON.stringify(url)}`);
  const port = u.port ? Number(u.port) : 25;
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port };
}

const ADDRESS = /^[^\s<>@,]+@[^\s<>@,]+$/;
export function checkAddress(flag: string, a: string): string {
  if (!ADDRESS.test(a)) throw new InvalidInputError(`${flag} must be an email address like ops@example.com, got ${JSON.stringify(a)}`);
  return a;
}

/** Makes the DATA payload: headers, blank line, CRLF line endings, leading dots doubled. */
export function formatMessage(m: MailMessage, date = new Date(), messageId = `<${date.getTime()}.${Math.random().toString(36).slice(2)}@summon>`): string {
  const clean = (s: string) => s.replace(/[\r\n]+/g, ' ');
  const head = [
    `From: ${clean(m.from)}`,
    `To: ${m.to.map(clean).join(', ')}`,
    `Subject: ${clean(m.subject)}`,
    `Date: ${date.toUTCString()}`,
    `Message-ID: ${messageId}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    ...Object.entries(m.headers ?? {}).map(([k, v]) => `${clean(k)}: ${clean(v)}`),
  ];
  const body = m.text.replace(/\r?\n/g, '\r\n').split('\r\n').map((l) => (l.startsWith('.') ? `.${l}` : l));
  return `${head.join('\r\n')}\r\n\r\n${body.join('\r\n')}\r\n`;
}

/** Reads SMTP replies (multi-line: "250-…" continues, "250 …" ends). */
class ReplyReader {
  private buf = '';
  private lines: string[] = [];
  private waiters: { resolve: (r: { code: number; text: string }) => void; reject: (e: Error) => void }[] = [];
  private replies: { code: number; text: string }[] = [];
  private error: Error | null = null;

  constructor(socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buf += chunk;
      let i: number;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i).replace(/\r$/, '');
        this.buf = this.buf.slice(i + 1);
        this.lines.push(line);
        if (/^\d{3}(?: |$)/.test(line)) {
          const reply = { code: Number(line.slice(0, 3)), text: this.lines.map((l) => l.slice(4)).join('\n') };
          this.lines = [];
          const w = this.waiters.shift();
          if (w) w.resolve(reply);
          else this.replies.push(reply);
        }
      }
    });
    const fail = (e: Error) => {
      this.error ??= e;
      for (const w of this.waiters.splice(0)) w.reject(this.error);
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('the SMTP server closed the connection')));
  }

  next(): Promise<{ code: number; text: string }> {
    const r = this.replies.shift();
    if (r) return Promise.resolve(r);
    if (this.error) return Promise.reject(this.error);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }
}

export async function sendMail(target: SmtpTarget, m: MailMessage, opts: { timeoutMs?: number; heloName?: string } = {}): Promise<{ response: string }> {
  if (!m.to.length) throw new InvalidInputError('an email needs at least one recipient');
  const socket = connect({ host: target.host, port: target.port });
  socket.setTimeout(opts.timeoutMs ?? 15_000, () => socket.destroy(new Error(`SMTP ${target.host}:${target.port} timed out`)));
  const reader = new ReplyReader(socket);
  const expect = async (what: string, ok: (code: number) => boolean) => {
    const r = await reader.next();
    if (!ok(r.code)) throw new Error(`SMTP ${what} refused: ${r.code} ${r.text}`);
    return r;
  };
  const cmd = (line: string) => socket.write(`${line}\r\n`);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    await expect('greeting', (c) => c === 220);
    cmd(`EHLO ${opts.heloName ?? 'summon.localhost'}`);
    await expect('EHLO', (c) => c === 250);
    cmd(`MAIL FROM:<${m.from}>`);
    await expect('MAIL FROM', (c) => c === 250);
    for (const to of m.to) {
      cmd(`RCPT TO:<${to}>`);
      await expect(`RCPT TO ${to}`, (c) => c === 250 || c === 251);
    }
    cmd('DATA');
    await expect('DATA', (c) => c === 354);
    socket.write(`${formatMessage(m)}.\r\n`);
    const done = await expect('message', (c) => c === 250);
    cmd('QUIT');
    await reader.next().catch(() => undefined);
    return { response: `${done.code} ${done.text}` };
  } finally {
    socket.destroy();
  }
}
