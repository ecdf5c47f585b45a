// Every named event (`instance.crashed`, `release.live`, `scale.out`…) goes through here:
// stored, written to the app's log as a Summon line, and handed to subscribers (SSE, webhooks).
import type { SummonEvent } from '../core/types.js';
import type { Store } from '../store/store.js';
import type { LogStore } from './log-store.js';

export type EventListener = (e: SummonEvent) => void;

export class EventBus {
  private readonly listeners = new Set<EventListener>();
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: { store: Store; logs: LogStore; now: () => number }) {}

  /** Records an event. Returns once it is stored; ordering is preserved. */
  /** `at`: when it happened, for events reported late (a remote agent's, after a partition). */
  emit(app: string | null, type: string, message: string, data: Record<string, unknown> = {}, at = this.deps.now()): Promise<SummonEvent | undefined> {
    if (app) this.deps.logs.append(app, 'summon', type.split('.')[0], message, at);
    const p = this.chain.then(async () => {
      const e = await this.deps.store.appendEvent({ app, type, message, data, at });
      for (const l of this.listeners) {
        try {
          l(e);
        } catch {
          // A failing subscriber must not stop the others.
        }
      }
      return e;
    }).catch(() => undefined);
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
