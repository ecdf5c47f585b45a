import http from 'node:http';
import type { Socket } from 'node:net';

export interface Upstream {
  id: string;
  address: string;
  port: number;
}

export interface AgentOptions {
  maxSockets: number;
  maxFreeSockets: number;
}

/**
 * A keep-alive agent that can be told to drain: from then on a socket whose
 * response has completed is closed instead of going back to the free list, so
 * busy sockets close right after their current response and never mid-request.
 */
export class DrainableAgent extends http.Agent {
  draining = false;
  override keepSocketAlive(socket: Socket): boolean {
    if (this.draining) return false;
    return (super.keepSocketAlive as (s: Socket) => boolean)(socket);
  }
  /** Closes the idle keep-alive sockets now. */
  closeIdle(): void {
    const free = (this as unknown as { freeSockets: Record<string, Socket[] | undefined> }).freeSockets;
    for (const key of Object.keys(free)) {
      const list = free[key];
      if (list) for (const s of list.slice()) s.destroy();
    }
  }
}

/** One upstream instance as the router sees it: its agent and its in-flight count. */
export class UpstreamState {
  readonly id: string;
  readonly address: string;
  readonly port: number;
  readonly agent: DrainableAgent;
  inflight = 0;
  draining = false;
  /** Until this (performance.now ms) the upstream refused a connection: prefer others. */
  downUntil = 0;

  constructor(u: Upstream, agentOpts: AgentOptions) {
    this.id = u.id;
    this.address = u.address;
    this.port = u.port;
    this.agent = new DrainableAgent({
      keepAlive: true,
      maxSockets: agentOpts.maxSockets,
      maxFreeSockets: agentOpts.maxFreeSockets,
      scheduling: 'lifo',
    });
  }

  sameAs(u: Upstream): boolean {
    return u.address === this.address && u.port === this.port;
  }

  drain(): void {
    this.draining = true;
    this.agent.draining = true;
    this.agent.closeIdle();
    if (this.inflight === 0) this.agent.destroy();
  }

  undrain(): void {
    this.draining = false;
    this.agent.draining = false;
  }
}

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
