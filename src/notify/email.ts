// Email notifications: a plain-text mail to the operators on a failed release, a crash loop,
// and an app that hit its hard maximum of instances.
import { InvalidInputError } from '../core/errors.js';
import type { SummonEvent } from '../core/types.js';
import type { EventBus } from '../control/event-bus.js';
import { notificationTypes } from './events.js';
import { checkAddress, parseSmtpUrl, sendMail, type MailMessage, type SmtpTarget } from './smtp-client.js';

export const EMAIL_EVENTS = ['release.failed', 'instance.crashloop', 'scale.max', 'host.unreachable'];

export interface EmailOptions {
  /** smtp://host:port */
  smtp: string;
  from: string;
  to: string[];
}

export interface EmailNotifierOptions extends EmailOptions {
  events: EventBus;
  now?: () => number;
  /** A crash loop of one instance mails at most once per this window (default 10 min). */
  crashloopQuietMs?: number;
  retryBaseMs?: number;
  send?: (target: SmtpTarget, m: MailMessage) => Promise<unknown>;
}

/** Validates the email options eagerly (at `summon up`), with the flag and the reason. */
export function checkEmailOptions(o: EmailOptions): { target: SmtpTarget; from: string; to: string[] } {
  const target = parseSmtpUrl(o.smtp);
  const from = checkAddress('--mail-from', o.from);
  if (!o.to.length) throw new InvalidInputError('--mail-to needs at least one address');
  return { target, from, to: o.to.map((a) => checkAddress('--mail-to', a)) };
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
  if (type === 'release.failed') {
    lines.push('', `See: summon releases -a ${app}`);
    return { subject: `[summon] ${app}: release v${String(e.data.version ?? '?')} failed`, text: lines.join('\n') };
  }
  lines.push('', `See: summon autoscale -a ${app}`);
  return { subject: `[summon] ${app}: reached its maximum instance count`, text: lines.join('\n') };
}

export class EmailNotifier {
  private readonly unsubscribe: () => void;
  private readonly target: SmtpTarget;
  private readonly from: string;
  private readonly to: string[];
  private readonly lastCrashloop = new Map<string, number>();
  private readonly inFlight = new Set<Promise<void>>();
  private closed = false;

  constructor(private readonly o: EmailNotifierOptions) {
    ({ target: this.target, from: this.from, to: this.to } = checkEmailOptions(o));
    this.unsubscribe = o.events.subscribe((e) => {
      for (const type of notificationTypes(e)) {
        if (!EMAIL_EVENTS.includes(type) || !this.shouldSend(type, e)) continue;
        const p = this.send(type, e);
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

  private async send(type: string, e: SummonEvent): Promise<void> {
    const { subject, text } = describe(type, e);
    const send = this.o.send ?? ((t: SmtpTarget, m: MailMessage) => sendMail(t, m));
    const msg: MailMessage = { from: this.from, to: this.to, subject, text, headers: { 'X-Summon-Event': type, 'X-Summon-App': e.app ?? '' } };
    let lastErr = '';
    for (let attempt = 1; attempt <= 3 && !this.closed; attempt++) {
      try {
        await send(this.target, msg);
        void this.o.events.emit(e.app, 'notify.email_sent', `emailed ${this.to.join(', ')}: ${subject}`, { event: type });
        return;
      } catch (err) {
        lastErr = (err as Error).message;
        if (attempt < 3) await new Promise((r) => setTimeout(r, (this.o.retryBaseMs ?? 1000) * 2 ** (attempt - 1)));
      }
    }
    void this.o.events.emit(e.app, 'notify.email_failed', `could not email ${this.to.join(', ')} about ${type}: ${lastErr}`, { event: type, error: lastErr });
  }

  async close(): Promise<void> {
    this.unsubscribe();
    this.closed = true;
    await Promise.allSettled([...this.inFlight]);
  }
}
