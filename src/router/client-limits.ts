// Bounds on client connections: how many may be open at once (in all, and from one
// address) and how long one may take to send its headers or sit idle between requests.
// Without them a client that opens connections and sends nothing holds a file descriptor
// each until the process runs out (about 20,000 did it), and then everything fails.

import { InvalidInputError } from '../core/errors.js';

export interface ClientLimitOptions {
  /** Client connections open at once, all addresses together; default 10000. */
  maxConnections?: number;
  /** Client connections open at once from one address (an IPv6 client: its /64); default 1000. */
  maxConnectionsPerAddress?: number;
  /** From a connection's start, or the first byte of its next request, to complete headers; default 10000. */
  headerTimeoutMs?: number;
  /** An idle keep-alive connection is closed after this (Node adds 1 s of grace); default 65000. */
  idleTimeoutMs?: number;
}

export type ClientLimits = Required<ClientLimitOptions>;

// Defaults, and why:
// - 10,000 connections: half of a typical 20,000 descriptor limit, since every proxied
//   request also holds an upstream socket, and the store, logs, API and agents need some.
// - 1,000 per address: a browser opens 6 per origin; an office or a carrier NAT shares one
//   address between many users. One address can take a tenth of the router, not all of it.
//   Behind a proxy of your own every client has its address: raise it to maxConnections.
// - 10 s for headers (HAProxy's usual `timeout http-request`): a real client sends them in
//   one packet; a slow one (slowloris) is cut after 10 s, whatever it trickles.
// - 65 s idle keep-alive: longer than the 60 s idle timeout of common load balancers, so one
//   in front of Summon closes first and never reuses a connection the router just closed.
export const CLIENT_LIMIT_DEFAULTS: ClientLimits = {
  maxConnections: 10_000,
  maxConnectionsPerAddress: 1_000,
  headerTimeoutMs: 10_000,
  idleTimeoutMs: 65_000,
};

/** Node's own bound on a whole request (headers and body), which a held body must fit in too. */
export const REQUEST_TIMEOUT_MS = 300_000;

function isIntIn(v: unknown, lo: number, hi: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;
}

export function resolveClientLimits(o: ClientLimitOptions | undefined): ClientLimits {
  if (o !== undefined && (o === null || typeof o !== 'object')) throw new InvalidInputError('router: client must be an object');
  const l = { ...CLIENT_LIMIT_DEFAULTS, ...stripUndefined(o ?? {}) };
  if (!isIntIn(l.maxConnections, 1, 1_000_000)) {
    throw new InvalidInputError(`router: client.maxConnections: ${String(l.maxConnections)} is not an integer in 1..1000000`);
  }
  // A small global cap without a per-address one means "this many, from anyone".
  if (o?.maxConnectionsPerAddress === undefined) l.maxConnectionsPerAddress = Math.min(l.maxConnectionsPerAddress, l.maxConnections);
  if (!isIntIn(l.maxConnectionsPerAddress, 1, l.maxConnections)) {
    throw new InvalidInputError(
      `router: client.maxConnectionsPerAddress: ${String(l.maxConnectionsPerAddress)} is not an integer in 1..${l.maxConnections} (client.maxConnections)`,
    );
  }
  // Node refuses a header timeout longer than its whole-request timeout.
  if (!isIntIn(l.headerTimeoutMs, 10, REQUEST_TIMEOUT_MS)) {
    throw new InvalidInputError(`router: client.headerTimeoutMs: ${String(l.headerTimeoutMs)} is not an integer in 10..${REQUEST_TIMEOUT_MS}`);
  }
  if (!isIntIn(l.idleTimeoutMs, 10, 3_600_000)) {
    throw new InvalidInputError(`router: client.idleTimeoutMs: ${String(l.idleTimeoutMs)} is not an integer in 10..3600000`);
  }
  return l;
}

function stripUndefined(o: ClientLimitOptions): ClientLimitOptions {
  const out: ClientLimitOptions = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

/**
 * The key a client's connections are counted under: its IPv4 address, or for IPv6 its /64,
 * since one IPv6 host is normally given a whole /64 and could otherwise take an address per
 * connection. IPv4-mapped IPv6 addresses count as the IPv4 address.
 */
export function addressKey(ip: string): string {
  if (ip.indexOf(':') === -1) return ip;
  const pct = ip.indexOf('%');
  const a = (pct === -1 ? ip : ip.slice(0, pct)).toLowerCase();
  if (a.startsWith('::ffff:') && a.indexOf('.') !== -1) return a.slice(7);
  const dbl = a.indexOf('::');
  let groups: string[];
  if (dbl === -1) {
    groups = a.split(':');
  } else {
    const left = dbl === 0 ? [] : a.slice(0, dbl).split(':');
    const right = dbl + 2 === a.length ? [] : a.slice(dbl + 2).split(':');
    groups = [...left, ...new Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  }
  const prefix: string[] = [];
  for (let i = 0; i < 4; i++) prefix.push((parseInt(groups[i] ?? '0', 16) || 0).toString(16));
  return prefix.join(':') + '::/64';
}

export type Refusal = 'global' | 'address';

/** Open connections, in all and per address key. */
export class ConnectionCounts {
  private total = 0;
  private readonly byKey = new Map<string, number>();
  constructor(private readonly limits: ClientLimits) {}

  /** Counts a new connection in, or says which limit refuses it (and counts nothing). */
  admit(key: string): Refusal | null {
    if (this.total >= this.limits.maxConnections) return 'global';
    const n = this.byKey.get(key) ?? 0;
    if (n >= this.limits.maxConnectionsPerAddress) return 'address';
    this.byKey.set(key, n + 1);
    this.total++;
    return null;
  }

  release(key: string): void {
    const n = this.byKey.get(key);
    if (n === undefined) return;
    if (n <= 1) this.byKey.delete(key);
    else this.byKey.set(key, n - 1);
    this.total--;
  }

  get open(): number {
    return this.total;
  }

  openFrom(key: string): number {
    return this.byKey.get(key) ?? 0;
  }

  get addresses(): number {
    return this.byKey.size;
  }
}
