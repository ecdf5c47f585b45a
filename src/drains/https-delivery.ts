// An HTTPS drain: lines POSTed in batches as newline-delimited JSON (one object per line, see
// line-format.ts), one request at a time. A batch leaves the buffer when the receiver answers
// 2xx; on any other answer, a network error or a timeout it goes back to the front and is
// sent again after a backoff (so a receiver may see a batch twice, never a gap). Each request
// resolves the host once, checks every address and connects to exactly those (pinned-post.ts).
import tls from 'node:tls';
import { pinnedPost } from '../notify/pinned-post.js';
import { backoffMs, describeError, type Delivery, type DeliveryOptions, type DeliveryState } from './delivery.js';
import { resolveDrainHost } from './drain-target.js';
import { untilAborted } from '../core/until-aborted.js';

export interface HttpsDeliveryOptions extends DeliveryOptions {
  /** Lines and bytes per POST. */
  batchLines: number;
  batchBytes: number;
  /** How long the first line of a batch waits for others before it is sent. */
  flushMs: number;
}

export class HttpsDelivery implements Delivery {
  private posting: Promise<boolean> | null = null;
  private flushTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private attempt = 0;
  private closed = false;
  private readonly abort = new AbortController();
  private readonly ca: string[] | undefined;
  current: DeliveryState;

  constructor(private readonly o: HttpsDeliveryOptions) {
    this.current = { state: 'starting', since: o.now(), lastError: null };
    this.ca = o.ca ? [...tls.rootCertificates, o.ca] : undefined;
  }

  start(): void {
    // Nothing to connect to until there are lines.
  }

  kick(): void {
    if (this.closed || this.posting || this.retryTimer || this.flushTimer || this.o.buffer.pending === 0) return;
    const full = this.o.buffer.pending >= this.o.batchLines || this.o.buffer.bytes >= this.o.batchBytes;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      void this.send();
    }, full ? 0 : this.o.flushMs);
  }

  private setState(state: DeliveryState['state'], lastError: string | null): void {
    const prev = this.current;
    if (prev.state === state && prev.lastError === lastError) return;
    this.current = { state, since: prev.state === state ? prev.since : this.o.now(), lastError };
    this.o.onState(this.current, prev);
  }

  private async send(): Promise<void> {
    if (this.closed || this.posting) return;
    const ok = await this.post(AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.o.timeoutMs)]));
    if (this.closed) return;
    if (ok) {
      this.kick();
      return;
    }
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.send();
    }, backoffMs(this.attempt, this.o.retryBaseMs, this.o.retryMaxMs));
  }

  /** One POST of the next batch; true when it was answered 2xx (or there was nothing to send). */
  private post(signal: AbortSignal): Promise<boolean> {
    const b = this.o.buffer;
    const batch = b.take(this.o.batchLines, this.o.batchBytes);
    if (!batch.length) return Promise.resolve(true);
    const t = this.o.target;
    this.posting = (async () => {
      try {
        const addresses = await untilAborted(resolveDrainHost(t, { allowPrivate: this.o.allowPrivate, resolve: this.o.resolve }), signal);
        const status = await pinnedPost({
          url: t.url, addresses, signal, body: batch.map((l) => l.data).join(''),
          headers: {
            'content-type': 'application/x-ndjson', 'user-agent': 'Summon-Drains/1',
            'x-summon-drain': this.o.id, 'x-summon-app': this.o.app, 'x-summon-lines': String(batch.length),
          },
          ...(this.ca ? { ca: this.ca } : {}),
        });
        if (status < 200 || status > 299) throw new Error(`answered ${status}`);
        b.confirmInFlight();
        this.attempt = 0;
        this.setState('up', null);
        return true;
      } catch (e) {
        b.requeue();
        this.attempt += 1;
        const why = signal.aborted && !this.abort.signal.aborted ? `no answer within ${this.o.timeoutMs} ms` : describeError(e, t);
        if (!this.closed) this.setState('down', why);
        return false;
      } finally {
        this.posting = null;
      }
    })();
    return this.posting;
  }

  async close(graceMs: number): Promise<void> {
    this.closed = true;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const deadline = AbortSignal.timeout(Math.max(1, graceMs));
    deadline.addEventListener('abort', () => this.abort.abort(), { once: true });
    // The batch under way, then what is pending, while the receiver answers and time is left.
    let ok = this.posting ? await this.posting : this.current.state !== 'down';
    while (ok && this.o.buffer.pending > 0 && !this.abort.signal.aborted) ok = await this.post(this.abort.signal);
    this.abort.abort();
  }
}
