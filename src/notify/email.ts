// Email notifications: a plain-text mail to the operators on a failed release, a crash loop,
// an app that hit its hard maximum of instances, a host that dropped off, and a certificate
// certs:auto could not obtain or renew. Sent through one
// pooled SMTP transport (mailer.ts); a failed delivery is retried with backoff and ends in an
// event either way: email.sent, or email.failed with the reason.
import { InvalidInputError } from '../core/errors.js';
import type { SummonEvent } from '../core/types.js';
import type { EventBus } from '../control/event-bus.js';
import { notificationTypes } from './events.js';
import { Mailer, type MailerOptions, type MailMessage, type SmtpFailure } from './mailer.js';
import { checkAddress, checkSmtp, type SmtpTarget } from './smtp-config.js';

export const EMAIL_EVENTS = ['release.failed', 'instance.crashloop', 'scale.max', 'host.unreachable', 'cert.failed'];

export interface EmailOptions {
  /** `--smtp`: smtp://[USER:PASSWORD@]HOST[:PORT][?starttls=required] or smtps://… (see smtp-config.ts). */
  smtp: string;
  /** `--smtp-ca`: a PEM file; the relay's certificate is verified against it instead of the system CAs. */
  caFile?: string;
  from: string;
  to: string[];
  /** Delay before the 2nd attempt, doubling for each further one (default 2 s). */
  retryBaseMs?: number;
  /** Attempts per mail, the first included (default 5: 2 + 4 + 8 + 16 s of backoff). */
  maxAttempts?: number;
}

export interface EmailNotifierOptions extends EmailOptions {
  events: EventBus;
  now?: () => number;
  /** A crash loop of one instance mails at most once per this window (default 10 min). */
  crashloopQuietMs?: number;
  /** Timeouts and pool size of the SMTP transport. */
  mailer?: MailerOptions;
}

export interface CheckedEmailOptions {
  target: SmtpTarget;
  from: string;
  to: string[];
  retryBaseMs: number;
  maxAttempts: number;
}

/** Validates the email options eagerly (at `summon up`), with the flag and the reason. */
export function checkEmailOptions(o: EmailOptions): CheckedEmailOptions {
  const target = checkSmtp(o.smtp, o.caFile);
  const from = checkAddress('--mail-from', o.from);
  if (!o.to.length) throw new InvalidInputError('--mail-to needs at least one address');
  const retryBaseMs = o.retryBaseMs ?? 2000;
  const maxAttempts = o.maxAttempts ?? 5;
  if (!(retryBaseMs >= 0)) throw new InvalidInputError(`email retryBaseMs must be ≥ 0, got ${String(o.retryBaseMs)}`);
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new InvalidInputError(`email maxAttempts must be a whole number ≥ 1, got ${String(o.maxAttempts)}`);
  return { target, from, to: o.to.map((a) => checkAddress('--mail-to', a)), retryBaseMs, maxAttempts };
}

export function describe(type: string, e: SummonEvent): { subject: string; text: string } {
  const app = e.app ?? 'summon';
  const when = new Date(e.at).toISOString();
  const lines = [e.message, '', `app:   ${app}`, `event: ${type}`, `at:    ${when}`];
  if (type === 'instance.crashloop') {
    const last = Array.isArray(e.data.lastLines) ? (e.data.lastLines as string[]) : [];
    lines.push(`instance: ${String(e.data.instance ?? '?')}`, `restarts: ${String(e.data.restarts)}`);
    if (e.data.lastHealth) lines.push(`last health check: ${String(e.data.lastHealth)}`);
    if (last.length) lines.push('', 'last output:', ...last.map((l) => `  ${l}`));
    lines.push('', `See: summon ps -a ${app}   and   summon logs -a ${app}`);
    return { subject: `[summon] ${app}: instance ${String(e.data.instance ?? '')} is crash-looping`, text: lines.join('\n') };
  }
  if (type === 'host.unreachable') {
    const host = String(e.data.host ?? '?');
    return {
      subject: `[summon] host ${host} is unreachable`,
      text: [e.message, '', `host:  ${host}`, `agent: ${String(e.data.url ?? '-')}`, `at:    ${when}`, '',
        'Its instances keep running on it; past --host-lost-after they are started on other hosts.', 'See: summon hosts'].join('\n'),
    };
  }
  if (type === 'cert.failed') {
    const hosts = Array.isArray(e.data.hosts) ? (e.data.hosts as string[]).join(', ') : '?';
    lines.push(`domains: ${hosts}`, `tries:   ${String(e.data.failures ?? '?')}`);
    if (e.data.expiresAt) lines.push(`the certificate serving now expires: ${String(e.data.expiresAt)}`);
    lines.push('', `See: summon events -a ${app}   and   summon certs -a ${app}`);
    return { subject: `[summon] ${app}: no certificate for ${hosts}`, text: lines.join('\n') };
  }
  if (type === 'release.failed') {
    lines.push('', `See: summon releases -a ${app}`);
    return { subject: `[summon] ${app}: release v${String(e.data.version ?? '?')} failed`, text: lines.join('\n') };
  }
  lines.push('', `See: summon autoscale -a ${app}`);
  return { subject: `[summon] ${app}: reached its maximum instance count`, text: lines.join('\n') };
}

export class EmailNotifier {
  private readonly unsubscribe: () => void;
  private readonly opts: CheckedEmailOptions;
  private readonly mailer: Mailer;
  private readonly lastCrashloop = new Map<string, number>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly stopping = new AbortController();
  private closed: Promise<void> | null = null;

  constructor(private readonly o: EmailNotifierOptions) {
    this.opts = checkEmailOptions(o);
    this.mailer = new Mailer(this.opts.target, o.mailer);
    this.unsubscribe = o.events.subscribe((e) => {
      for (const type of notificationTypes(e)) {
        if (!EMAIL_EVENTS.includes(type) || !this.shouldSend(type, e)) continue;
        const p = this.deliver(type, e);
        this.inFlight.add(p);
        void p.finally(() => this.inFlight.delete(p));
      }
    });
  }

  private shouldSend(type: string, e: SummonEvent): boolean {
    if (type !== 'instance.crashloop') return true;
    const key = `${e.app}/${String(e.data.instance)}`;
    const now = (this.o.now ?? Date.now)();
    const last = this.lastCrashloop.get(key);
    if (last !== undefined && now - last < (this.o.crashloopQuietMs ?? 600_000)) return false;
    this.lastCrashloop.set(key, now);
    return true;
  }

  /** Sends one notification, retrying what may pass later; ends in email.sent or email.failed. */
  private async deliver(type: string, e: SummonEvent): Promise<void> {
    const { subject, text } = describe(type, e);
    const { to, from, maxAttempts, retryBaseMs } = this.opts;
    const msg: MailMessage = { from, to, subject, text, headers: { 'X-Summon-Event': type, 'X-Summon-App': e.app ?? '' } };
    let failure: SmtpFailure | null = null;
    let attempts = 0;
    let cutShort = false;
    while (attempts < maxAttempts) {
      attempts++;
      try {
        const sent = await this.mailer.send(msg);
        const refused = sent.rejected.length ? ` (the relay refused ${sent.rejected.join(', ')})` : '';
        await this.o.events.emit(e.app, 'email.sent', `emailed ${to.join(', ')}: ${subject}${refused}`,
          { event: type, to, attempts, messageId: sent.messageId, ...(sent.rejected.length ? { rejected: sent.rejected } : {}) });
        return;
      } catch (err) {
        failure = this.mailer.explain(err);
        if (failure.permanent || cutShort || attempts >= maxAttempts) break;
        // Stopping cuts the wait short: a mail waiting for its retry gets one more at once, its last.
        cutShort = !(await this.sleep(retryBaseMs * 2 ** (attempts - 1)));
      }
    }
    const f = failure!;
    const tries = `${attempts} attempt${attempts === 1 ? '' : 's'}`;
    const how = f.permanent ? (attempts === 1 ? 'not retried: it would fail the same way' : `after ${tries}; this failure is not retried`)
      : cutShort && attempts < maxAttempts ? `after ${tries}; Summon stopped before the remaining retries` : `after ${tries}`;
    await this.o.events.emit(e.app, 'email.failed', `could not email ${to.join(', ')} about ${type} (${how}): ${f.reason}`, {
      event: type, to, attempts, reason: f.reason, permanent: f.permanent, code: f.code, responseCode: f.responseCode,
    });
  }

  /** Resolves true after `ms`, or false at once when the notifier is stopping. */
  private sleep(ms: number): Promise<boolean> {
    const signal = this.stopping.signal;
    return new Promise((resolve) => {
      if (signal.aborted) return resolve(false);
      const onAbort = () => {
        clearTimeout(t);
        resolve(false);
      };
      const t = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve(true);
      }, ms);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Takes no more events, waits for the mail under way (and its events), then closes the pool. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.unsubscribe();
      this.stopping.abort();
      while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
      this.mailer.close();
    })();
    return this.closed;
  }
}
