// Holding requests for an app with no upstream: each app's queue (AppEntry.held) is bounded
// in count (maxHeld, then 503 + Retry-After at once) and in time (maxWaitMs, then 503 +
// Retry-After); the first request of a wake episode asks for the app to be woken. Released
// requests go back to the router's dispatch; flushed ones are answered with the given status.

import { performance } from 'node:perf_hooks';
import { DONE, HELD, NEW, onHoldTimeout, plain, type Exchange } from './exchange.js';
import * as msg from './messages.js';
import type { AppEntry } from './route-table.js';

export interface HoldHooks {
  /** Hands a released exchange back to routing. */
  dispatch(ex: Exchange): void;
  /** Rate-limited event for the app. */
  event(app: AppEntry, type: string, message: string, data: Record<string, unknown> | undefined): void;
  wake: ((app: string) => void) | undefined;
  now: () => number;
  /** The router is closing: nothing more is held. */
  closed(): boolean;
}

export class HoldQueue {
  constructor(
    readonly maxHeld: number,
    readonly maxWaitMs: number,
    private readonly hooks: HoldHooks,
  ) {}

  hold(ex: Exchange): void {
    const app = ex.app;
    if (this.hooks.closed()) {
      ex.state = DONE;
      plain(ex.res, 503, msg.SHUTTING_DOWN_BODY, 1, ex.head.hasBody);
      return;
    }
    if (app.held.length >= this.maxHeld) {
      ex.state = DONE;
      app.metrics.rejected++;
      app.metrics.status(503, (performance.now() - ex.start) / 1000);
      this.hooks.event(app, 'router.hold_full', `hold queue full (${this.maxHeld}): request refused`, { max: this.maxHeld });
      plain(ex.res, 503, msg.holdFullBody(app.name, this.maxHeld), 1, ex.head.hasBody);
      return;
    }
    ex.state = HELD;
    ex.heldAt = performance.now();
    ex.holdTimer = setTimeout(onHoldTimeout, this.maxWaitMs, ex);
    app.held.push(ex);
    app.metrics.held++;
    if (app.wakeStartedAt === null) {
      app.wakeStartedAt = this.hooks.now();
      app.metrics.wakes++;
      this.hooks.event(app, 'router.wake', `no upstream for ${app.name}: holding requests and waking it`, undefined);
      const wake = this.hooks.wake;
      if (wake) {
        try {
          wake(app.name);
        } catch (e) {
          this.hooks.event(app, 'router.wake_error', `wake(${app.name}) threw: ${(e as Error).message}`, undefined);
        }
      }
    }
  }

  /** Sends every held request of the app back to dispatch (an upstream came). */
  release(app: AppEntry): void {
    const q = app.held;
    app.held = [];
    if (app.wakeStartedAt !== null) {
      app.metrics.wake(Math.max(0, this.hooks.now() - app.wakeStartedAt));
      app.wakeStartedAt = null;
    }
    for (const ex of q) {
      if (ex.holdTimer) clearTimeout(ex.holdTimer);
      ex.holdTimer = null;
      ex.state = NEW;
      this.hooks.dispatch(ex);
    }
  }

  /** Answers every held request of the app with `status`. */
  flush(app: AppEntry, status: number, body: string, retryAfter: number | undefined): void {
    const q = app.held;
    app.held = [];
    app.wakeStartedAt = null;
    for (const ex of q) {
      if (ex.holdTimer) clearTimeout(ex.holdTimer);
      ex.holdTimer = null;
      ex.state = DONE;
      app.metrics.status(status, (performance.now() - ex.start) / 1000);
      plain(ex.res, status, body, retryAfter, ex.head.hasBody);
    }
  }

  timedOut(ex: Exchange): void {
    if (ex.state !== HELD) return;
    ex.holdTimer = null;
    const app = ex.app;
    this.unhold(ex);
    ex.state = DONE;
    app.metrics.holdTimeouts++;
    app.metrics.status(503, (performance.now() - ex.start) / 1000);
    this.hooks.event(app, 'router.hold_timeout', `request held ${this.maxWaitMs}ms without an upstream`, { maxWaitMs: this.maxWaitMs });
    plain(ex.res, 503, msg.holdTimeoutBody(app.name, performance.now() - ex.heldAt), 5, ex.head.hasBody);
  }

  /** Removes a held exchange from its queue. */
  unhold(ex: Exchange): void {
    const app = ex.app;
    const i = app.held.indexOf(ex);
    if (i !== -1) app.held.splice(i, 1);
    if (ex.holdTimer) clearTimeout(ex.holdTimer);
    ex.holdTimer = null;
    // An episode nobody waits for any more is over: the next request wakes again.
    if (app.held.length === 0) app.wakeStartedAt = null;
  }
}
