// Webhook deliveries: every stored event that a webhook of its app asked for is POSTed as JSON,
// signed with the webhook's secret, and retried with exponential backoff on network errors and
// non-2xx answers. Every attempt is recorded (summon webhooks:deliveries). Each attempt
// resolves the target once, checks every address (webhook-targets.ts) and connects to exactly
// those; a refused target is recorded as a failed attempt and not retried: asking again would
// only probe the same internal address again.
import { createHmac, randomBytes } from 'node:crypto';
import { InvalidInputError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import type { SummonEvent } from '../core/types.js';
import type { EventBus } from '../control/event-bus.js';
import type { Store, Webhook } from '../store/store.js';
import { eventMatches, notificationTypes } from './events.js';
import { pinnedPost } from './pinned-post.js';
import { resolveTarget, shownUrl, systemResolver, type Resolver } from './webhook-targets.js';
import { silentLogger, type Logger } from '../logging/logger.js';
import { untilAborted } from '../core/until-aborted.js';

export interface WebhookPayload {
  id: number;
  type: string;
  app: string;
  message: string;
  data: Record<string, unknown>;
  at: number;
}

export interface WebhookNotifierOptions {
  store: Store;
  events: EventBus;
  now?: () => number;
  /** Delay before the 2nd attempt; doubles for each further one (default 500 ms). */
  retryBaseMs?: number;
  /** Attempts per delivery, the first included (default 5). */
  maxAttempts?: number;
  /** Per-attempt timeout (default 10 s). */
  timeoutMs?: number;
  /** Deliver to loopback, private, link-local and metadata addresses too (default false). */
  allowPrivate?: boolean;
  /** How host names are resolved (default dns.promises.lookup with all: true). */
  resolve?: Resolver;
  /** Summon's own log: store reads and writes that failed and were let go. */
  logger?: Logger;
}

export function newWebhookSecret(): string {
  return `whsec_${randomBytes(24).toString('base64url')}`;
}

/** `sha256=<hex HMAC-SHA256 of the raw body>`, the value of X-Summon-Signature. */
export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export class WebhookNotifier {
  private readonly unsubscribe: () => void;
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly abort = new AbortController();
  private readonly now: () => number;
  private readonly base: number;
  private readonly attempts: number;
  private readonly timeoutMs: number;
  private readonly allowPrivate: boolean;
  private readonly resolve: Resolver;
  private readonly log: Logger;

  constructor(private readonly o: WebhookNotifierOptions) {
    this.log = o.logger ?? silentLogger();
    this.now = o.now ?? Date.now;
    this.base = o.retryBaseMs ?? 500;
    this.attempts = o.maxAttempts ?? 5;
    this.timeoutMs = o.timeoutMs ?? 10_000;
    this.allowPrivate = o.allowPrivate ?? false;
    this.resolve = o.resolve ?? systemResolver;
    if (!(this.base >= 0)) throw new InvalidInputError(`retryBaseMs must be ≥ 0, got ${String(o.retryBaseMs)}`);
    if (!Number.isInteger(this.attempts) || this.attempts < 1) throw new InvalidInputError(`maxAttempts must be a whole number ≥ 1, got ${String(o.maxAttempts)}`);
    if (!(this.timeoutMs > 0)) throw new InvalidInputError(`timeoutMs must be > 0, got ${String(o.timeoutMs)}`);
    if (typeof this.allowPrivate !== 'boolean') throw new InvalidInputError(`allowPrivate must be true or false, got ${String(o.allowPrivate)}`);
    this.unsubscribe = o.events.subscribe((e) => this.track(this.onEvent(e)));
  }

  private track(p: Promise<unknown>): void {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  private async onEvent(e: SummonEvent): Promise<void> {
    if (!e.app || this.abort.signal.aborted) return;
    const types = notificationTypes(e);
    if (!types.length) return;
    let hooks: Webhook[];
    try {
      hooks = await this.o.store.listWebhooks(e.app);
    } catch (err) {
      // The store is closing or gone; nothing to deliver to.
      if (!this.abort.signal.aborted) this.log.warn({ err, app: e.app, type: e.type }, 'webhooks not looked up: this event is not delivered');
      return;
    }
    for (const hook of hooks) {
      for (const type of types) {
        if (hook.events.some((p) => eventMatches(p, type))) {
          this.track(this.deliver(hook, { id: e.id, type, app: e.app, message: e.message, data: e.data, at: e.at }));
        }
      }
    }
  }

  /** Sends one payload to one webhook, retrying; resolves when it succeeded or gave up. */
  async deliver(hook: Webhook, payload: WebhookPayload): Promise<boolean> {
    const deliveryId = newId('dlv');
    const body = JSON.stringify(payload);
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'Summon-Webhooks/1',
      'x-summon-event': payload.type,
      'x-summon-delivery': deliveryId,
      'x-summon-signature': signBody(hook.secret, body),
    };
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      if (this.abort.signal.aborted) return false;
      const { status, error, refused } = await this.attempt(hook.url, { ...headers, 'x-summon-attempt': String(attempt) }, body);
      const ok = error === null;
      await this.o.store.addDelivery({
        id: `${deliveryId}-${attempt}`, webhookId: hook.id, app: hook.app, event: payload.type,
        attempt, status, ok, error, at: this.now(),
      }).catch((err: unknown) => this.log.warn({ err, webhook: hook.id, delivery: deliveryId, attempt }, 'webhook delivery not recorded'));
      if (ok) return true;
      if (refused) {
        void this.o.events.emit(hook.app, 'webhook.failed', `webhook ${hook.id} (${this.shown(hook.url)}) was not sent ${payload.type}: ${error}`, { webhook: hook.id, event: payload.type, refused: true });
        return false;
      }
      if (attempt < this.attempts && !(await this.sleep(this.base * 2 ** (attempt - 1)))) return false;
    }
    void this.o.events.emit(hook.app, 'webhook.failed', `webhook ${hook.id} (${this.shown(hook.url)}) gave up on ${payload.type} after ${this.attempts} attempts`, { webhook: hook.id, event: payload.type });
    return false;
  }

  /** One attempt: resolve, check every address, POST to the checked ones. */
  private async attempt(raw: string, headers: Record<string, string>, body: string): Promise<{ status: number | null; error: string | null; refused: boolean }> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const signal = AbortSignal.any([this.abort.signal, timeout]);
    try {
      const target = await untilAborted(resolveTarget(raw, { allowPrivate: this.allowPrivate, resolve: this.resolve }), signal);
      if (!target.ok) return { status: null, error: target.refused, refused: true };
      const status = await pinnedPost({ url: target.url, addresses: target.addresses, headers, body, signal });
      return { status, error: status >= 200 && status <= 299 ? null : `answered ${status}`, refused: false };
    } catch (e) {
      return { status: null, error: timeout.aborted ? 'timed out' : (e as Error).message, refused: false };
    }
  }

  private shown(raw: string): string {
    try {
      return shownUrl(new URL(raw));
    } catch {
      return raw;
    }
  }

  /** Resolves true after `ms`, or false at once when the notifier is closed. */
  private sleep(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      if (this.abort.signal.aborted) return resolve(false);
      const t = setTimeout(() => {
        this.abort.signal.removeEventListener('abort', onAbort);
        resolve(true);
      }, ms);
      const onAbort = () => {
        clearTimeout(t);
        resolve(false);
      };
      this.abort.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Resolves when every delivery started so far has finished (or given up). */
  async idle(): Promise<void> {
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
  }

  async close(): Promise<void> {
    this.unsubscribe();
    this.abort.abort();
    await this.idle();
  }
}
