import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** Asks the kernel for a free loopback port. The port is released before returning, so a
 *  caller racing another process may lose it (tests and the PostgreSQL harness use it; the
 *  agent hands instances ports from a PortAllocator instead). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Whether nothing listens on `port` (any IPv4 address): a bind of 0.0.0.0:port succeeds.
 *  Any error but EADDRINUSE (EACCES, say) counts as not free too. */
export function portIsFree(port: number, host = '0.0.0.0'): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** The kernel's ephemeral range (net.ipv4.ip_local_port_range), from which it picks the local
 *  port of every outgoing connection and of every bind to port 0. */
export function ephemeralRange(read: () => string = () => readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')): [number, number] {
  try {
    const [lo, hi] = read().trim().split(/\s+/).map(Number);
    if (Number.isInteger(lo) && Number.isInteger(hi) && lo >= 1 && hi <= 65535 && lo <= hi) return [lo, hi];
  } catch {
    // not Linux, or /proc not mounted: Linux's default
  }
  return [32768, 60999];
}

/** The range the agent gives instances when none is set: the 12,000 ports below the kernel's
 *  ephemeral range (20000-31999 with Linux's default), or the ones above it when that leaves
 *  too few below. */
export function defaultInstancePorts(eph: [number, number] = ephemeralRange()): [number, number] {
  const [lo, hi] = eph;
  if (lo - 1 - 10_000 >= 1000) return [Math.max(10_000, lo - 12_768), lo - 1];
  if (65535 - hi >= 1000) return [hi + 1, 65535];
  return [1024, 65535]; // the ephemeral range covers everything: the bind check below is all there is
}

export interface PortAllocatorOptions {
  /** Inclusive range handed out; default defaultInstancePorts(). */
  range?: [number, number];
  /** Ports held by this agent's instances (they may not be listening right now: a crashed
   *  instance waits for its restart on the same port, a starting one has not bound yet). */
  inUse?: (port: number) => boolean;
  /** Where the first candidate is taken, default random (two Summons on one host do not walk
   *  the range in step). */
  start?: number;
  isFree?: (port: number) => Promise<boolean>;
}

/**
 * Ports for instances. Why not the kernel's bind(0) and release (freePort): that port comes
 * from the ephemeral range, which the kernel keeps handing out, in the instant before the
 * instance binds it, as the local port of outgoing connections (health checks, the router's
 * upstream connections, anything else on the host): measured here, 3 of ~50 starts died with
 * EADDRINUSE. This hands out ports from a range the kernel never picks from by itself, skips
 * those this agent's instances hold and those something already listens on, and walks on from
 * the last one given, so a port just released is the last to be given again. What can still
 * race (another program binding the same port in the same instant) the agent detects when the
 * instance exits while starting and relaunches on another port without counting a crash.
 */
export class PortAllocator {
  private readonly lo: number;
  private readonly hi: number;
  private next: number;
  private readonly inUse: (port: number) => boolean;
  private readonly isFree: (port: number) => Promise<boolean>;
  private readonly reserved = new Set<number>();

  constructor(o: PortAllocatorOptions = {}) {
    const [lo, hi] = o.range ?? defaultInstancePorts();
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 1 || hi > 65535 || lo > hi) {
      throw new Error(`PortAllocator: range must be two ports lo <= hi in 1..65535, got ${lo}-${hi}`);
    }
    this.lo = lo;
    this.hi = hi;
    this.next = o.start ?? lo + Math.floor(Math.random() * (hi - lo + 1));
    this.inUse = o.inUse ?? (() => false);
    this.isFree = o.isFree ?? ((p) => portIsFree(p));
  }

  /** A port no instance of this agent holds and nothing listens on. Held (never handed out
   *  again) until release(), or until the caller's instance holds it (inUse). */
  async take(): Promise<number> {
    const size = this.hi - this.lo + 1;
    for (let tried = 0; tried < size; tried++) {
      const p = this.next;
      this.next = p >= this.hi ? this.lo : p + 1;
      if (this.reserved.has(p) || this.inUse(p)) continue;
      this.reserved.add(p);
      if (await this.isFree(p)) return p;
      this.reserved.delete(p);
    }
    throw new Error(`no free port for an instance in ${this.lo}-${this.hi}: every one is taken`);
  }

  /** The caller's instance now holds the port (or gave it up): it is inUse's to report. */
  release(port: number): void {
    this.reserved.delete(port);
  }
}
