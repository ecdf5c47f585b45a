// Webhook deliveries: every stored event that a webhook of its app asked for is POSTed as JSON,
// signed with the webhook's secret, and retried with exponential backoff on network errors and
// non-2xx answers. Every attempt is recorded (summon webhooks:deliveries).
import { createHmac, randomBytes } from 'node:crypto';
import { newId } from '../core/ids.js';
import type { SummonEvent } from '../core/types.js';
import type { EventBus } from '../control/event-bus.js';
import type { Store, Webhook } from '../store/store.js';
import { eventMatches, notificationTypes } from './events.js';

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
  fetch?: typeof fetch;
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

  constructor(private readonly o: WebhookNotifierOptions) {
    this.now = o.now ?? Date.now;
    this.base = o.retryBaseMs ?? 500;
    this.attempts = o.maxAttempts ?? 5;
    if (!(this.base >= 0)) throw new Error(`retryBaseMs must be ≥ 0, got ${String(o.retryBaseMs)}`);
    if (!Number.isInteger(this.attempts) || this.attempts < 1) throw new Error(`maxAttempts must be a whole number ≥ 1, got ${String(o.maxAttempts)}`);
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
    } catch {
      return; // the store is closing or gone; nothing to deliver to
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
    const f = this.o.fetch ?? fetch;
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      if (this.abort.signal.aborted) return false;
      let status: number | null = null;
      let error: string | null = null;
      try {
        const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.o.timeoutMs ?? 10_000)]);
        const res = await f(hook.url, { method: 'POST', headers: { ...headers, 'x-summon-attempt': String(attempt) }, body, signal, redirect: 'manual' });
        status = res.status;
        await res.arrayBuffer().catch(() => undefined);
        if (!res.ok) error = `answered ${res.status}`;
      } catch (e) {
        const err = e as Error & { cause?: Error };
        error = err.name === 'TimeoutError' ? 'timed out' : (err.cause?.message ?? err.message);
      }
      const ok = error === null;
      await this.o.store.addDelivery({
        id: `${deliveryId}-${attempt}`, webhookId: hook.id, app: hook.app, event: payload.type,
        attempt, status, ok, error, at: this.now(),
      }).catch(() => undefined);
      if (ok) return true;
      if (attempt < this.attempts && !(await this.sleep(this.base * 2 ** (attempt - 1)))) return false;
    }
    void this.o.events.emit(hook.app, 'webhook.failed', `webhook ${hook.id} (${hook.url}) gave up on ${payload.type} after ${this.attempts} attempts`, { webhook: hook.id, event: payload.type });
    return false;
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
