// Every named event (`instance.crashed`, `release.live`, `scale.out`…) goes through here:
// stored, written to the app's log as a Summon line and to Summon's own log (once, here, not
// by each subscriber), and handed to subscribers (SSE, webhooks).
import type { SummonEvent } from '../core/types.js';
import type { Store } from '../store/store.js';
import type { LogStore } from './log-store.js';
import { logEvent } from '../logging/event-log.js';
import { silentLogger, type Logger } from '../logging/logger.js';

export type EventListener = (e: SummonEvent) => void;

/** An event whose `at` is older than this was reported late: its log line says when it happened. */
const LATE_MS = 1000;

export class EventBus {
  private readonly listeners = new Set<EventListener>();
  private chain: Promise<unknown> = Promise.resolve();
  private readonly log: Logger;

  constructor(private readonly deps: { store: Store; logs: LogStore; now: () => number; logger?: Logger }) {
    this.log = deps.logger ?? silentLogger();
  }

  /** Records an event. Returns once it is stored; ordering is preserved. */
  /** `at`: when it happened, for events reported late (a remote agent's, after a partition). */
  emit(app: string | null, type: string, message: string, data: Record<string, unknown> = {}, at = this.deps.now()): Promise<SummonEvent | undefined> {
    if (app) this.deps.logs.append(app, 'summon', type.split('.')[0], message, at);
    logEvent(this.log, { type, app, message, data, ...(this.deps.now() - at > LATE_MS ? { at } : {}) });
    const p = this.chain.then(async () => {
      const e = await this.deps.store.appendEvent({ app, type, message, data, at });
      for (const l of this.listeners) {
        try {
          l(e);
        } catch (err) {
          // A failing subscriber must not stop the others.
          this.log.warn({ err, type, app }, 'an event subscriber threw');
        }
      }
      return e;
    }).catch((err: unknown) => {
      // Not stored (the store is closing or failing): `summon events` and webhooks miss it.
      this.log.error({ err, type, app }, 'event not stored');
      return undefined;
    });
    this.chain = p;
    return p;
  }

  subscribe(l: EventListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  drained(): Promise<unknown> {
    return this.chain;
  }
}
