// One drain's lines between the log and the receiver, bounded by lines and bytes. Appending
// never waits and never fails: past either bound the oldest line goes, so a receiver that is
// down or slow costs a fixed amount of memory and the newest lines are the ones kept.
//
//   [ head … next )   in flight: handed to the receiver, not yet known to have arrived
//   [ next … end  )   pending: not sent yet
//
// Lines in flight stay until they are confirmed (an HTTPS 2xx; for syslog, which has no
// acknowledgement, having been written to a connection that then stayed up for a while), and
// go back to pending when the attempt fails, so a receiver that restarts loses nothing the
// buffer still holds: it may get some lines twice instead. `dropped` counts the lines that
// left without being delivered: pending lines pushed out, and lines pushed out while in flight
// whose attempt then failed.
import { InvalidInputError } from '../core/errors.js';
import type { Formatted } from './line-format.js';

export interface BufferedLine extends Formatted {
  /** When the line was handed over for good (written to the socket); 0 while it is not. */
  sentAt: number;
}

export interface DrainBufferOptions {
  maxLines: number;
  maxBytes: number;
  /** Called with how many lines were just dropped. */
  onDrop?: (n: number) => void;
}

export class DrainBuffer {
  private items: BufferedLine[] = [];
  private head = 0;
  private next = 0;
  private size = 0;
  /** In-flight lines pushed out before they were handed over for good: lost if the attempt fails. */
  private evictedInFlight = 0;
  /** Lines that left without being delivered, since the buffer was made. */
  dropped = 0;
  /** Lines confirmed (or handed over for good and then pushed out), since the buffer was made. */
  delivered = 0;

  constructor(private readonly o: DrainBufferOptions) {
    if (!Number.isInteger(o.maxLines) || o.maxLines < 1) throw new InvalidInputError(`drain buffer maxLines must be a whole number ≥ 1, got ${String(o.maxLines)}`);
    if (!Number.isInteger(o.maxBytes) || o.maxBytes < 1024) throw new InvalidInputError(`drain buffer maxBytes must be a whole number ≥ 1024, got ${String(o.maxBytes)}`);
  }

  get lines(): number {
    return this.items.length - this.head;
  }

  get bytes(): number {
    return this.size;
  }

  get pending(): number {
    return this.items.length - this.next;
  }

  get inFlight(): number {
    return this.next - this.head;
  }

  push(f: Formatted): void {
    if (f.bytes > this.o.maxBytes) return this.drop(1); // larger than the whole buffer
    this.items.push({ data: f.data, bytes: f.bytes, sentAt: 0 });
    this.size += f.bytes;
    let lost = 0;
    while (this.lines > this.o.maxLines || this.size > this.o.maxBytes) {
      const e = this.items[this.head];
      this.size -= e.bytes;
      this.head += 1;
      if (this.head > this.next) {
        this.next = this.head;
        lost += 1;
      } else if (e.sentAt === 0) {
        this.evictedInFlight += 1;
      } else {
        this.delivered += 1;
      }
    }
    this.compact();
    if (lost) this.drop(lost);
  }

  /** The next pending lines (at least one if any, then up to the bounds), now in flight. */
  take(maxLines: number, maxBytes: number): BufferedLine[] {
    const out: BufferedLine[] = [];
    let b = 0;
    while (this.next < this.items.length && out.length < maxLines) {
      const e = this.items[this.next];
      if (out.length > 0 && b + e.bytes > maxBytes) break;
      out.push(e);
      b += e.bytes;
      this.next += 1;
    }
    return out;
  }

  /** Every line in flight arrived (one attempt at a time, as HTTPS drains make). */
  confirmInFlight(): number {
    const n = this.inFlight;
    for (let i = this.head; i < this.next; i++) this.size -= this.items[i].bytes;
    this.head = this.next;
    this.delivered += n + this.evictedInFlight;
    this.evictedInFlight = 0;
    this.compact();
    return n;
  }

  /** In-flight lines handed over at or before `t` arrived (oldest first); returns how many. */
  confirmSentBefore(t: number): number {
    let n = 0;
    while (this.head < this.next) {
      const e = this.items[this.head];
      if (e.sentAt === 0 || e.sentAt > t) break;
      this.size -= e.bytes;
      this.head += 1;
      n += 1;
    }
    if (n) {
      this.delivered += n + this.evictedInFlight;
      this.evictedInFlight = 0;
      this.compact();
    }
    return n;
  }

  /** The attempt failed: lines in flight are pending again, first in line. Returns how many were lost. */
  requeue(): number {
    for (let i = this.head; i < this.next; i++) this.items[i].sentAt = 0;
    this.next = this.head;
    const lost = this.evictedInFlight;
    this.evictedInFlight = 0;
    if (lost) this.drop(lost);
    return lost;
  }

  private drop(n: number): void {
    this.dropped += n;
    this.o.onDrop?.(n);
  }

  /** Cuts the consumed front off now and then: amortised O(1) per line, never a copy per line. */
  private compact(): void {
    if (this.head > 4096 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.next -= this.head;
      this.head = 0;
    }
  }
}
