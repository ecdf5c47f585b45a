// `logs --tail` and `events --tail`: keep a stream open across API restarts and dropped
// connections. One "interrupted; reconnecting" line per outage (not one per attempt), one
// "reconnected" line when it is back; attempts back off from 1 s to 5 s.
import type { Io } from './context.js';

export interface FollowOptions {
  /** "log" or "event": the line says "log stream interrupted (…)". */
  what: string;
  /** Opens the stream and reads it until it ends; calls `opened` once the server accepted it. */
  open: (signal: AbortSignal, opened: () => Promise<void>) => Promise<void>;
  /** Runs on every (re)open before the stream is read: e.g. fetch what was missed meanwhile. */
  onOpen?: () => Promise<void>;
  firstDelayMs?: number;
  maxDelayMs?: number;
}

export async function follow(io: Io, opts: FollowOptions): Promise<void> {
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  if (io.signal) {
    if (io.signal.aborted) ac.abort();
    else io.signal.addEventListener('abort', stop, { once: true });
  }
  const first = opts.firstDelayMs ?? 1000;
  const max = opts.maxDelayMs ?? 5000;
  let down = false;
  let delay = first;
  try {
    while (!ac.signal.aborted) {
      let reason = 'the server ended the stream';
      try {
        await opts.open(ac.signal, async () => {
          if (opts.onOpen) await opts.onOpen();
          if (down) io.err(`${opts.what} stream reconnected`);
          down = false;
          delay = first;
        });
      } catch (e) {
        reason = (e as Error).message;
      }
      if (ac.signal.aborted) break;
      if (!down) io.err(`${opts.what} stream interrupted (${reason}); reconnecting`);
      down = true;
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, delay);
        function done(): void {
          clearTimeout(t);
          ac.signal.removeEventListener('abort', done);
          resolve();
        }
        ac.signal.addEventListener('abort', done, { once: true });
      });
      delay = Math.min(delay * 2, max);
    }
  } finally {
    process.removeListener('SIGINT', stop);
    process.removeListener('SIGTERM', stop);
    io.signal?.removeEventListener('abort', stop);
  }
}
