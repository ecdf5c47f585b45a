import http from 'node:http';
import net from 'node:net';
import type { Socket } from 'node:net';

export interface Upstream {
  id: string;
  address: string;
  port: number;
}

export interface PoolOptions {
  maxSockets: number;
  maxFreeSockets: number;
}

const kPool = Symbol('summon.pool');
type PooledSocket = Socket & { [kPool]?: UpstreamState };
/** The part of ClientRequest an agent drives (as agent-base and http.Agent do). */
type AgentRequest = http.ClientRequest & { onSocket(socket: Socket): void };

/**
 * The http.Agent face of an upstream's pool: node:http calls addRequest and, once a
 * keep-alive response is complete and the request fully written, emits 'free' on the
 * socket. Everything else of http.Agent (name keys, option copies, socket arrays
 * searched on every release, per-socket timers) is skipped.
 */
class PoolAgent extends http.Agent {
  constructor(private readonly pool: UpstreamState) {
    super({ keepAlive: true });
  }
  addRequest(req: http.ClientRequest): void {
    const s = this.pool.acquire();
    if (s !== null) (req as AgentRequest).onSocket(s);
    else this.pool.wait(req as AgentRequest);
  }
  override destroy(): void {
    this.pool.destroy();
  }
}

/**
 * One upstream instance as the router sees it: its keep-alive socket pool and its
 * in-flight count.
 *
 * A socket that comes free goes to the oldest waiting request, else back on the free
 * list (LIFO), or is closed when the upstream drains or the list is full. A socket
 * whose response was not keep-alive is closed by node:http and simply leaves the pool.
 */
export class UpstreamState {
  readonly id: string;
  readonly address: string;
  readonly port: number;
  inflight = 0;
  draining = false;
  /** Until this (performance.now ms) the upstream refused a connection: prefer others. */
  downUntil = 0;
  private readonly maxSockets: number;
  private readonly maxFree: number;
  /** Idle keep-alive sockets; the most recently used is last. */
  private readonly free: Socket[] = [];
  /** Every open socket, idle or in use. */
  private readonly all = new Set<Socket>();
  /** Requests waiting for a socket while maxSockets are open. */
  private readonly waiters: AgentRequest[] = [];
  /** Pass as `agent` to http.request. */
  readonly agent: http.Agent = new PoolAgent(this);

  constructor(u: Upstream, opts: PoolOptions) {
    this.id = u.id;
    this.address = u.address;
    this.port = u.port;
    this.maxSockets = opts.maxSockets;
    this.maxFree = opts.maxFreeSockets;
  }

  sameAs(u: Upstream): boolean {
    return u.address === this.address && u.port === this.port;
  }

  /** An idle socket, or a new connecting one, or null when maxSockets are open (then wait()). */
  acquire(): Socket | null {
    const free = this.free;
    while (free.length > 0) {
      const s = free.pop()!;
      if (!s.destroyed) {
        s.ref();
        return s;
      }
    }
    if (this.all.size >= this.maxSockets) return null;
    const s = net.connect({ host: this.address, port: this.port, noDelay: true }) as PooledSocket;
    s[kPool] = this;
    this.all.add(s);
    s.setKeepAlive(true, 1000);
    s.on('free', onSocketFree);
    s.on('close', onSocketClose);
    // node:http listens while a request owns the socket; this keeps an error on an idle one harmless
    s.on('error', noop);
    return s;
  }

  /** Queues a request for the next socket that comes free. */
  wait(req: AgentRequest): void {
    this.waiters.push(req);
  }

  /** @internal */
  released(s: Socket): void {
    // As http.Agent does: drop the finished request. Left in place it keeps the request
    // and its response reachable while the socket idles, so they survive young-generation
    // GCs; measured, that tripled the router's p99.
    (s as Socket & { _httpMessage: unknown })._httpMessage = null;
    if (this.draining || s.destroyed) {
      s.destroy();
      return;
    }
    while (this.waiters.length > 0) {
      const req = this.waiters.shift()!;
      if (!req.destroyed) {
        req.onSocket(s);
        return;
      }
    }
    if (this.free.length >= this.maxFree) {
      s.destroy();
      return;
    }
    s.unref(); // an idle pool must not keep the process alive
    this.free.push(s);
  }

  /** @internal */
  closed(s: Socket): void {
    this.all.delete(s);
    const i = this.free.lastIndexOf(s);
    if (i !== -1) this.free.splice(i, 1);
    // room for one more connection: give it to the oldest waiter that still wants one
    // (also while draining: a queued request was accepted before the drain)
    while (this.waiters.length > 0) {
      const req = this.waiters.shift()!;
      if (req.destroyed) continue;
      req.onSocket(this.acquire()!);
      break;
    }
  }

  /** Closes the idle sockets now; busy ones close after their current response. */
  drain(): void {
    this.draining = true;
    for (const s of this.free.splice(0)) s.destroy();
    if (this.inflight === 0) this.destroy();
  }

  undrain(): void {
    this.draining = false;
  }

  /** Closes every socket, idle or busy. */
  destroy(): void {
    for (const req of this.waiters.splice(0)) req.destroy();
    for (const s of this.free.splice(0)) s.destroy();
    for (const s of [...this.all]) s.destroy();
  }
}

function onSocketFree(this: PooledSocket): void {
  this[kPool]?.released(this);
}

function onSocketClose(this: PooledSocket): void {
  this[kPool]?.closed(this);
}

function noop(): void {}

/**
 * Least-loaded choice: the upstream with the fewest in-flight requests, ties broken
 * round-robin by starting the scan one further each call. Upstreams that recently
 * refused a connection lose to any that did not. `exclude` holds ids already tried
 * for this request. Returns undefined when every upstream is excluded.
 */
export function chooseUpstream(
  list: UpstreamState[],
  start: number,
  exclude: string[] | null,
  now: number,
): UpstreamState | undefined {
  const n = list.length;
  if (n === 1 && exclude === null) return list[0];
  let best: UpstreamState | undefined;
  let bestScore = Infinity;
  for (let i = 0; i < n; i++) {
    const u = list[(start + i) % n];
    if (exclude !== null && exclude.includes(u.id)) continue;
    // a down upstream scores above any possible in-flight count
    const score = u.downUntil > now ? u.inflight + 1e9 : u.inflight;
    if (score < bestScore) {
      best = u;
      bestScore = score;
    }
  }
  return best;
}
