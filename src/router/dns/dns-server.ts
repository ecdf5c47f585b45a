// Authoritative DNS for app names, Jitsu style: a lookup of `<app>.<domain>` is the
// earliest sign that a client is about to connect, so we tell the caller (onLookup) before
// answering, and the app's boot overlaps the client's TCP handshake. Never recurses,
// never forwards: names outside our domains are REFUSED. What each query gets is decided in
// dns-answer.ts; this file holds the sockets.
//
//   UDP datagram / TCP frame ─► parseQuery ──drop──► silence (TCP: the connection is closed)
//                                  │ error ─► FORMERR / NOTIMP, header only (12 bytes)
//                                  ▼
//                            DnsAnswerer ─► encodeReply(limit) ─► send
//
// Limits: a UDP reply fits the client's size (512 without EDNS) and, without EDNS, is never
// larger than the query; what does not fit goes out with TC and comes back over TCP. TCP:
// at most maxTcpConnections at once, and each must complete a message within tcpIdleTimeout
// of the last answer (a trickle of bytes does not keep it open).

import dgram from 'node:dgram';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { InvalidInputError } from '../../core/errors.js';
import { type DnsAddresses, DnsAnswerer, type DnsEvent } from './dns-answer.js';
import { TCP_MAX, encodeError, encodeReply, parseQuery, udpLimit } from './dns-message.js';
import { WakeLimiter } from './dns-wake.js';

export type { DnsAddresses, DnsEvent } from './dns-answer.js';

export interface DnsServerOptions {
  /** UDP and TCP port on `host`; 0 picks a free port that is free for both. */
  port: number;
  /** Address to bind; default 127.0.0.1. */
  host?: string;
  /** Zones we are authoritative for, e.g. ['localhost', 'apps.example.com']. */
  domains: string[];
  /** Seconds, for answers and (as the SOA minimum) for negative answers; short by default: apps move. */
  ttl?: number;
  /** null: no such app (NXDOMAIN). Throwing answers SERVFAIL. */
  lookup: (app: string) => DnsAddresses | null;
  /**
   * Called on an A/AAAA/ANY query of an existing app, before the answer goes out; at most
   * once per app per wakeInterval, and not while a previous call's promise is unsettled.
   */
  onLookup?: (app: string) => unknown;
  /** Least ms between two onLookup calls for one app; default 1000. */
  wakeInterval?: number;
  /** Addresses of this server, answered for each --domain apex (the name its NS record gives). */
  serverAddresses?: DnsAddresses;
  /** Named events for logs and metrics. */
  onEvent?: (e: DnsEvent) => void;
  /** A TCP connection that completes no message for this many ms is closed; default 10000. */
  tcpIdleTimeout?: number;
  /** Simultaneous TCP connections; default 256. */
  maxTcpConnections?: number;
  /** Monotonic clock in ms, for the wake interval; default performance.now. */
  now?: () => number;
}

const DEFAULT_TTL = 5;
const MAX_TTL = 0x7fffffff;

export class DnsServer {
  private readonly host: string;
  private readonly port: number;
  private readonly answerer: DnsAnswerer;
  private readonly onEvent: ((e: DnsEvent) => void) | undefined;
  private readonly tcpIdleTimeout: number;
  private readonly maxTcpConnections: number;
  private udp: dgram.Socket | null = null;
  private tcp: net.Server | null = null;
  private readonly conns = new Set<net.Socket>();
  private state: 'new' | 'listening' | 'closed' = 'new';

  constructor(o: DnsServerOptions) {
    if (!o || typeof o !== 'object') throw new InvalidInputError('dns: options object required');
    if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) {
      throw new InvalidInputError(`dns.port: ${String(o.port)} is not a port number (0-65535, 0 = any free port)`);
    }
    this.port = o.port;
    this.host = o.host ?? '127.0.0.1';
    if (net.isIP(this.host) === 0) throw new InvalidInputError(`dns.host: ${JSON.stringify(this.host)} is not an IP address`);
    const ttl = o.ttl ?? DEFAULT_TTL;
    if (!Number.isInteger(ttl) || ttl < 0 || ttl > MAX_TTL) {
      throw new InvalidInputError(`dns.ttl: ${String(o.ttl)} must be a whole number of seconds, 0 or more`);
    }
    if (typeof o.lookup !== 'function') throw new InvalidInputError('dns.lookup: a function (app) => addresses | null is required');
    for (const key of ['onLookup', 'onEvent', 'now'] as const) {
      if (o[key] !== undefined && typeof o[key] !== 'function') throw new InvalidInputError(`dns.${key}: must be a function`);
    }
    const sa = o.serverAddresses;
    if (sa !== undefined && (!sa || !Array.isArray(sa.a) || !Array.isArray(sa.aaaa) || ![...sa.a, ...sa.aaaa].every((s) => net.isIP(s) !== 0))) {
      throw new InvalidInputError('dns.serverAddresses: give { a: [IPv4…], aaaa: [IPv6…] } with addresses only');
    }
    this.onEvent = o.onEvent;
    this.tcpIdleTimeout = positiveInt(o.tcpIdleTimeout, 10_000, 'dns.tcpIdleTimeout');
    this.maxTcpConnections = positiveInt(o.maxTcpConnections, 256, 'dns.maxTcpConnections');
    const wakeInterval = positiveInt(o.wakeInterval, 1000, 'dns.wakeInterval');
    const onLookup = o.onLookup;
    const now = o.now ?? (() => performance.now());
    const limiter = onLookup
      ? new WakeLimiter({
        wake: onLookup, intervalMs: wakeInterval, now,
        onError: (app, e) => this.emit({ name: 'dns.wake_error', app, error: (e as Error)?.message ?? String(e) }),
      })
      : null;
    this.answerer = new DnsAnswerer({
      domains: o.domains, ttl, lookup: o.lookup, serverAddresses: sa,
      wake: (app) => limiter?.request(app),
      emit: (e) => this.emit(e),
    });
  }

  /** Binds UDP and TCP on the same port. With port 0, retries until a port is free for both. */
  async listen(): Promise<{ port: number }> {
    if (this.state !== 'new') throw new Error(`dns server already ${this.state}`);
    this.state = 'listening';
    const attempts = this.port === 0 ? 10 : 1;
    let lastError: unknown;
    for (let i = 0; i < attempts; i++) {
      let udp: dgram.Socket | null = null;
      try {
        udp = await this.bindUdp(this.port);
        const port = udp.address().port;
        this.tcp = await this.bindTcp(port);
        this.udp = udp;
        return { port };
      } catch (e) {
        lastError = e;
        if (udp) await closeUdp(udp);
        if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE') break;
      }
    }
    this.state = 'closed';
    throw lastError;
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    const udp = this.udp;
    const tcp = this.tcp;
    this.udp = null;
    this.tcp = null;
    for (const c of this.conns) c.destroy();
    this.conns.clear();
    await Promise.all([
      udp ? closeUdp(udp) : undefined,
      tcp ? new Promise<void>((resolve) => tcp.close(() => resolve())) : undefined,
    ]);
  }

  private bindUdp(port: number): Promise<dgram.Socket> {
    return new Promise((resolve, reject) => {
      const sock = dgram.createSocket({ type: net.isIPv6(this.host) ? 'udp6' : 'udp4' });
      const onError = (e: Error): void => {
        sock.close();
        reject(e);
      };
      sock.once('error', onError);
      sock.bind(port, this.host, () => {
        sock.off('error', onError);
        sock.on('error', (e) => this.emit({ name: 'dns.socket_error', transport: 'udp', error: e.message }));
        sock.on('message', (msg, rinfo) => {
          const res = this.respond(msg, 'udp');
          if (res) {
            sock.send(res, rinfo.port, rinfo.address, (err) => {
              if (err) this.emit({ name: 'dns.socket_error', transport: 'udp', error: err.message });
            });
          }
        });
        resolve(sock);
      });
    });
  }

  private bindTcp(port: number): Promise<net.Server> {
    return new Promise((resolve, reject) => {
      const server = net.createServer((sock) => this.serveTcp(sock));
      // Past this, node closes new connections at once.
      server.maxConnections = this.maxTcpConnections;
      server.once('error', reject);
      server.listen({ port, host: this.host, exclusive: true }, () => {
        server.off('error', reject);
        server.on('error', (e) => this.emit({ name: 'dns.socket_error', transport: 'tcp', error: e.message }));
        resolve(server);
      });
    });
  }

  /** RFC 7766: length-prefixed messages, several per connection, answered in order. */
  private serveTcp(sock: net.Socket): void {
    this.conns.add(sock);
    sock.setNoDelay(true);
    // Re-armed only when a message has been answered, so a client that sends a length and
    // then nothing, trickles a byte at a time, or stops reading our answers (we pause, no
    // message completes) is closed after tcpIdleTimeout.
    const idle = setTimeout(() => {
      this.emit({ name: 'dns.tcp_timeout' });
      sock.destroy();
    }, this.tcpIdleTimeout);
    sock.on('error', () => sock.destroy());
    sock.on('close', () => {
      clearTimeout(idle);
      this.conns.delete(sock);
    });
    // Held back while our replies wait to be sent: a client that asks and does not read
    // gets no more answered, so what we buffer for it is about one socket buffer, not what
    // its queries could make us write.
    let pending: Buffer | null = null;
    let blocked = false;
    const work = (): void => {
      let buf = pending;
      pending = null;
      while (buf && buf.length >= 2 && !blocked && !sock.destroyed) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) break;
        const res = this.respond(buf.subarray(2, 2 + len), 'tcp');
        buf = buf.subarray(2 + len);
        if (!res) {
          // Unanswerable garbage: the stream cannot be trusted to be in sync any more.
          sock.destroy();
          return;
        }
        const frame = Buffer.allocUnsafe(2 + res.length);
        frame.writeUInt16BE(res.length, 0);
        res.copy(frame, 2);
        idle.refresh();
        if (!sock.write(frame)) {
          blocked = true;
          sock.pause();
        }
      }
      // Copy the remainder so one partial message does not pin a large chunk.
      if (buf && buf.length > 0) pending = Buffer.from(buf);
    };
    sock.on('drain', () => {
      blocked = false;
      work();
      if (!blocked) sock.resume();
    });
    sock.on('data', (chunk: Buffer) => {
      pending = pending ? Buffer.concat([pending, chunk]) : chunk;
      // A client may pipeline at most one 64 KiB message past what we are answering.
      if (pending.length > 2 + 65535 + 65536) {
        sock.destroy();
        return;
      }
      work();
    });
  }

  /** The reply to one message, or null to stay silent. Never throws. */
  private respond(msg: Buffer, transport: 'udp' | 'tcp'): Buffer | null {
    try {
      const parsed = parseQuery(msg);
      if (parsed.kind === 'drop') {
        this.emit({ name: 'dns.malformed', transport, reason: parsed.reason });
        return null;
      }
      if (parsed.kind === 'error') {
        this.emit({ name: 'dns.malformed', transport, reason: parsed.reason });
        return encodeError(parsed.id, parsed.flags, parsed.rcode);
      }
      const q = parsed.query;
      return encodeReply(q, this.answerer.answer(q), transport === 'tcp' ? TCP_MAX : udpLimit(q));
    } catch (e) {
      this.emit({ name: 'dns.malformed', transport, reason: `internal: ${(e as Error)?.message ?? String(e)}` });
      return null;
    }
  }

  private emit(e: DnsEvent): void {
    if (!this.onEvent) return;
    try {
      this.onEvent(e);
    } catch {
      // An observer's failure must not take the resolver down.
    }
  }
}

function positiveInt(v: number | undefined, dflt: number, key: string): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v <= 0) throw new InvalidInputError(`${key}: ${String(v)} must be a positive whole number`);
  return v;
}

function closeUdp(sock: dgram.Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      sock.close(() => resolve());
    } catch {
      resolve(); // already closed
    }
  });
}
