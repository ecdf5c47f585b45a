// Server-sent events to one client, dropping the client when it stops reading.
//
// A response keeps whatever its client has not taken yet, without limit: one `summon logs
// --tail` that stopped reading during a log burst grew Summon from 120 to 579 MB. Here a
// stream whose client leaves more than `maxBufferedBytes` unsent, or does not drain within
// `drainTimeoutMs` once the socket's buffer is full, is ended; every SSE client reconnects.
//
// Writes of one tick are corked and go out as one write when the tick ends. So that a burst
// in a single tick is not mistaken for a slow client, the bound is checked against what is
// still unsent from earlier ticks when a tick's first write comes; one tick may add up to as
// much again on top. A stream therefore holds at most about 2 × maxBufferedBytes.
import type http from 'node:http';
import { InvalidInputError } from './errors.js';

export interface SseWriterOptions {
  /** Unsent bytes a client may leave behind from earlier ticks (default 1 MiB). */
  maxBufferedBytes?: number;
  /** How long a full socket buffer may wait for 'drain' (default 10 s). The byte bound is
   *  what bounds memory; this frees a connection whose client stalled during a trickle. */
  drainTimeoutMs?: number;
  /** The last frame a dropped client is sent, when it fits within the bound. */
  dropFrame?: (drop: SseDrop) => string;
  onDrop?: (drop: SseDrop) => void;
}

export interface SseDrop {
  reason: 'buffer' | 'drain_timeout';
  /** Unsent bytes when the client was dropped. */
  bufferedBytes: number;
  message: string;
}

export const SSE_DEFAULTS = Object.freeze({ maxBufferedBytes: 1024 * 1024, drainTimeoutMs: 10_000 });

/** room() waits while more than this is unsent: a backlog goes out in pieces this size. */
const ROOM_BYTES = 64 * 1024;

/** Fills in defaults; a bad bound fails where the writer is configured, not on a client. */
export function sseLimits(o: Pick<SseWriterOptions, 'maxBufferedBytes' | 'drainTimeoutMs'> = {}): { maxBufferedBytes: number; drainTimeoutMs: number } {
  const maxBufferedBytes = o.maxBufferedBytes ?? SSE_DEFAULTS.maxBufferedBytes;
  const drainTimeoutMs = o.drainTimeoutMs ?? SSE_DEFAULTS.drainTimeoutMs;
  if (!Number.isSafeInteger(maxBufferedBytes) || maxBufferedBytes < 1024) {
    throw new InvalidInputError(`SSE: maxBufferedBytes must be a whole number of bytes ≥ 1024, got ${String(maxBufferedBytes)}`, { key: 'maxBufferedBytes' });
  }
  if (!Number.isFinite(drainTimeoutMs) || drainTimeoutMs < 1) {
    throw new InvalidInputError(`SSE: drainTimeoutMs must be a number of milliseconds ≥ 1, got ${String(drainTimeoutMs)}`, { key: 'drainTimeoutMs' });
  }
  return { maxBufferedBytes, drainTimeoutMs };
}

export class SseWriter {
  private readonly max: number;
  private readonly drainTimeoutMs: number;
  private readonly roomBytes: number;
  private live = true;
  private corked = false;
  private drainTimer: NodeJS.Timeout | null = null;
  private readonly waiting: ((open: boolean) => void)[] = [];

  constructor(
    private readonly res: http.ServerResponse,
    private readonly opts: SseWriterOptions = {},
  ) {
    const l = sseLimits(opts);
    this.max = l.maxBufferedBytes;
    this.drainTimeoutMs = l.drainTimeoutMs;
    this.roomBytes = Math.min(ROOM_BYTES, this.max / 2);
    res.on('drain', () => this.drained());
    res.on('close', () => this.closed());
  }

  /** False once the stream is dropped or closed: the caller stops writing to it. */
  get open(): boolean {
    return this.live;
  }

  /** Whether room() would resolve at once: for loops that must not yield when they need not. */
  get hasRoom(): boolean {
    return this.live && this.res.writableLength <= this.roomBytes;
  }

  /** Bytes written and not yet taken by the kernel. */
  get bufferedBytes(): number {
    return this.res.writableLength;
  }

  /** Queues `frame` (whole SSE frames only). Returns false if the stream is (now) dropped. */
  write(frame: string): boolean {
    if (!this.live) return false;
    const buffered = this.res.writableLength;
    if (!this.corked) {
      if (buffered > this.max) return this.drop('buffer', buffered);
      this.corked = true;
      this.res.cork();
      process.nextTick(() => {
        this.corked = false;
        if (this.live) this.res.uncork();
      });
    } else if (buffered + Buffer.byteLength(frame) > 2 * this.max) {
      return this.drop('buffer', buffered);
    }
    if (!this.res.write(frame) && !this.drainTimer) {
      this.drainTimer = setTimeout(() => this.drop('drain_timeout', this.res.writableLength), this.drainTimeoutMs);
      this.drainTimer.unref();
    }
    return true;
  }

  /** Resolves true when there is room for more (for writing a long backlog at the
   *  client's pace), false if the stream is dropped or closed meanwhile. */
  room(): Promise<boolean> {
    if (!this.live) return Promise.resolve(false);
    if (this.hasRoom) return Promise.resolve(true);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  end(): void {
    if (!this.live) return;
    this.live = false;
    this.clearDrainTimer();
    if (this.corked) this.res.uncork();
    this.res.end();
    this.release(false);
  }

  private drained(): void {
    this.clearDrainTimer();
    if (this.live && this.res.writableLength <= this.roomBytes) this.release(true);
  }

  private closed(): void {
    this.live = false;
    this.clearDrainTimer();
    this.release(false);
  }

  private drop(reason: SseDrop['reason'], bufferedBytes: number): false {
    if (!this.live) return false;
    this.live = false;
    this.clearDrainTimer();
    const why = reason === 'buffer' ? `${bufferedBytes} bytes were waiting for it, past the ${this.max}-byte bound`
      : `its connection took no data for ${this.drainTimeoutMs} ms`;
    const drop: SseDrop = { reason, bufferedBytes, message: `dropped for reading too slowly: ${why}; reconnect to go on` };
    this.opts.onDrop?.(drop);
    const last = this.opts.dropFrame?.(drop);
    if (last !== undefined && bufferedBytes + Buffer.byteLength(last) <= this.max) {
      // Room for a last word: end after it, but a client that takes nothing more is cut off.
      if (this.corked) this.res.uncork();
      this.res.end(last);
      const cut = setTimeout(() => this.res.destroy(), this.drainTimeoutMs).unref();
      this.res.once('finish', () => clearTimeout(cut));
    } else {
      this.res.destroy();
    }
    this.release(false);
    return false;
  }

  private clearDrainTimer(): void {
    if (this.drainTimer) clearTimeout(this.drainTimer);
    this.drainTimer = null;
  }

  private release(open: boolean): void {
    for (const w of this.waiting.splice(0)) w(open);
  }
}
