// Authoritative DNS for app names, Jitsu style: a lookup of `<app>.<domain>` is the
// earliest sign that a client is about to connect, so we tell the caller (onLookup) before
// answering, and the app's boot overlaps the client's TCP handshake. Never recurses,
// never forwards: names outside our domains are REFUSED.
//
//   query ─► parse ──drop──► (nothing: short packet or a response)
//              │ formerr/notimp ─► rcode, no question
//              ▼
//   <app>.<domain>? ─no─► REFUSED (AA=0)
//              │ apex ─► NOERROR, no answers
//              │ deeper, bad name, lookup() null ─► NXDOMAIN
//              ▼
//   A / AAAA / ANY ─► onLookup(app), then the addresses; other types ─► NODATA

import dgram from 'node:dgram';
import net from 'node:net';
import { InvalidInputError } from '../../core/errors.js';
import { APP_NAME_RE } from '../../core/names.js';
import {
  type Answer,
  CLASS_ANY,
  CLASS_IN,
  Query,
  RCODE,
  TYPE,
  encodeResponse,
  ipv4Bytes,
  ipv6Bytes,
  parseQuery,
  udpLimit,
} from './dns-wire.js';

export interface DnsAddresses {
  a: string[];
  aaaa: string[];
}

export type DnsEvent =
  | { name: 'dns.malformed'; transport: 'udp' | 'tcp'; reason: string }
  | { name: 'dns.lookup_error'; app: string; error: string }
  | { name: 'dns.wake_error'; app: string; error: string }
  | { name: 'dns.socket_error'; transport: 'udp' | 'tcp'; error: string };

export interface DnsServerOptions {
  /** UDP and TCP port on `host`; 0 picks a free port that is free for both. */
  port: number;
  /** Address to bind; default 127.0.0.1. */
  host?: string;
  /** Zones we are authoritative for, e.g. ['localhost', 'apps.example.com']. */
  domains: string[];
  /** Seconds; short by default so a moved router is found again. */
  ttl?: number;
  /** null: no such app (NXDOMAIN). Throwing answers SERVFAIL. */
  lookup: (app: string) => DnsAddresses | null;
  /** Called for every A/AAAA/ANY query of an existing app, before the answer goes out. */
  onLookup?: (app: string) => void;
  /** Named events for logs and metrics. */
  onEvent?: (e: DnsEvent) => void;
  /** Idle TCP connections are closed after this many ms; default 10000. */
  tcpIdleTimeout?: number;
  /** Simultaneous TCP connections; default 256. */
  maxTcpConnections?: number;
}

interface Zone {
  name: string;
  labels: Uint8Array[];
}

const DEFAULT_TTL = 5;
const MAX_TTL = 0x7fffffff;
const DOMAIN_LABEL_RE = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;
const ADDRESS_CACHE_MAX = 4096;
const TCP_MAX = 65535;

export class DnsServer {
  private readonly host: string;
  private readonly port: number;
  private readonly ttl: number;
  private readonly zones: Zone[];
  private readonly lookup: (app: string) => DnsAddresses | null;
  private readonly onLookup: ((app: string) => void) | undefined;
  private readonly onEvent: ((e: DnsEvent) => void) | undefined;
  private readonly tcpIdleTimeout: number;
  private readonly maxTcpConnections: number;
  // One scratch query: handling is synchronous from parse to encode, so it is never shared.
  private readonly q = new Query();
  private readonly v4 = new Map<string, Uint8Array | null>();
  private readonly v6 = new Map<string, Uint8Array | null>();
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
    this.ttl = o.ttl ?? DEFAULT_TTL;
    if (!Number.isInteger(this.ttl) || this.ttl < 0 || this.ttl > MAX_TTL) {
      throw new InvalidInputError(`dns.ttl: ${String(o.ttl)} must be a whole number of seconds, 0 or more`);
    }
    if (typeof o.lookup !== 'function') throw new InvalidInputError('dns.lookup: a function (app) => addresses | null is required');
    if (o.onLookup !== undefined && typeof o.onLookup !== 'function') throw new InvalidInputError('dns.onLookup: must be a function');
    if (o.onEvent !== undefined && typeof o.onEvent !== 'function') throw new InvalidInputError('dns.onEvent: must be a function');
    this.lookup = o.lookup;
    this.onLookup = o.onLookup;
    this.onEvent = o.onEvent;
    this.zones = parseDomains(o.domains);
    this.tcpIdleTimeout = positiveInt(o.tcpIdleTimeout, 10_000, 'dns.tcpIdleTimeout');
    this.maxTcpConnections = positiveInt(o.maxTcpConnections, 256, 'dns.maxTcpConnections');
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
          const res = this.answer(msg, 'udp');
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
    sock.setTimeout(this.tcpIdleTimeout, () => sock.destroy());
    sock.on('error', () => sock.destroy());
    sock.on('close', () => this.conns.delete(sock));
    sock.on('drain', () => sock.resume());
    let pending: Buffer | null = null;
    sock.on('data', (chunk: Buffer) => {
      let buf: Buffer = pending ? Buffer.concat([pending, chunk]) : chunk;
      pending = null;
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) break;
        const res = this.answer(buf.subarray(2, 2 + len), 'tcp');
        buf = buf.subarray(2 + len);
        if (!res) {
          // Unanswerable garbage: the stream cannot be trusted to be in sync any more.
          sock.destroy();
          return;
        }
        if (!sock.write(res)) sock.pause();
      }
      // Copy the remainder so one partial message does not pin a large chunk.
      if (buf.length > 0) pending = Buffer.from(buf);
    });
  }

  /** The response to one message, or null to stay silent. Never throws. */
  private answer(msg: Buffer, transport: 'udp' | 'tcp'): Buffer | null {
    try {
      return this.respond(msg, transport);
    } catch (e) {
      this.emit({ name: 'dns.malformed', transport, reason: `internal: ${(e as Error).message}` });
      return null;
    }
  }

  private respond(msg: Buffer, transport: 'udp' | 'tcp'): Buffer | null {
    const q = this.q;
    const parsed = parseQuery(msg, q);
    const tcp = transport === 'tcp';
    const prefix = tcp ? 2 : 0;
    if (parsed === 'drop') {
      this.emit({ name: 'dns.malformed', transport, reason: q.reason });
      return null;
    }
    if (parsed !== 'ok') {
      this.emit({ name: 'dns.malformed', transport, reason: q.reason });
      const rcode = parsed === 'notimp' ? RCODE.NOTIMP : RCODE.FORMERR;
      // The OPT record may be what was wrong; do not echo EDNS in an error about it.
      q.edns = false;
      return encodeResponse(q, { rcode, aa: false, question: false, maxSize: 512, prefix });
    }
    const maxSize = tcp ? TCP_MAX : udpLimit(q);
    const reply = (rcode: number, aa: boolean, answers?: Answer[]): Buffer =>
      encodeResponse(q, { rcode, aa, question: true, answers, ttl: this.ttl, maxSize, prefix });

    if (q.edns && q.ednsVersion > 0) return reply(RCODE.BADVERS, false);
    if (q.qclass !== CLASS_IN && q.qclass !== CLASS_ANY) return reply(RCODE.REFUSED, false);

    const zone = this.zoneOf(q);
    if (!zone) return reply(RCODE.REFUSED, false);
    if (q.qtype === TYPE.AXFR || q.qtype === TYPE.IXFR) return reply(RCODE.REFUSED, true);
    const depth = q.labelCount - zone.labels.length;
    if (depth === 0) return reply(RCODE.NOERROR, true); // the zone apex exists, holds no addresses
    if (depth > 1 || q.labelLen[0] > 30) return reply(RCODE.NXDOMAIN, true);
    const app = q.label(0);
    if (!APP_NAME_RE.test(app)) return reply(RCODE.NXDOMAIN, true);

    let addrs: DnsAddresses | null;
    try {
      addrs = this.lookup(app);
    } catch (e) {
      this.emit({ name: 'dns.lookup_error', app, error: (e as Error)?.message ?? String(e) });
      return reply(RCODE.SERVFAIL, true);
    }
    if (!addrs) return reply(RCODE.NXDOMAIN, true);

    const wantA = q.qtype === TYPE.A || q.qtype === TYPE.ANY;
    const wantAAAA = q.qtype === TYPE.AAAA || q.qtype === TYPE.ANY;
    if (!wantA && !wantAAAA) return reply(RCODE.NOERROR, true); // NODATA
    this.wake(app);
    const answers: Answer[] = [];
    if (wantA) this.collect(addrs.a, this.v4, ipv4Bytes, TYPE.A, answers);
    if (wantAAAA) this.collect(addrs.aaaa, this.v6, ipv6Bytes, TYPE.AAAA, answers);
    return reply(RCODE.NOERROR, true, answers);
  }

  /** The longest of our zones the question name is in, or null. */
  private zoneOf(q: Query): Zone | null {
    for (const z of this.zones) {
      const n = z.labels.length;
      if (q.labelCount < n) continue;
      const off = q.labelCount - n;
      let match = true;
      for (let i = 0; i < n && match; i++) match = q.labelEquals(off + i, z.labels[i]);
      if (match) return z;
    }
    return null;
  }

  private wake(app: string): void {
    const onLookup = this.onLookup;
    if (!onLookup) return;
    try {
      const r: unknown = onLookup(app);
      // Tolerate an async hook: its rejection must not become an unhandled rejection.
      if (r && typeof (r as Promise<unknown>).then === 'function') {
        (r as Promise<unknown>).then(undefined, (e: unknown) =>
          this.emit({ name: 'dns.wake_error', app, error: (e as Error)?.message ?? String(e) }),
        );
      }
    } catch (e) {
      this.emit({ name: 'dns.wake_error', app, error: (e as Error)?.message ?? String(e) });
    }
  }

  private collect(
    list: readonly string[] | undefined,
    cache: Map<string, Uint8Array | null>,
    parse: (s: string) => Uint8Array | null,
    type: number,
    out: Answer[],
  ): void {
    if (!Array.isArray(list)) return;
    for (const s of list) {
      let data = cache.get(s);
      if (data === undefined) {
        data = typeof s === 'string' ? parse(s) : null;
        if (cache.size >= ADDRESS_CACHE_MAX) cache.clear();
        cache.set(s, data);
      }
      if (data) out.push({ type, data });
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

function parseDomains(domains: unknown): Zone[] {
  if (!Array.isArray(domains) || domains.length === 0) {
    throw new InvalidInputError('dns.domains: give at least one domain, e.g. ["localhost"]');
  }
  const seen = new Map<string, Zone>();
  for (const d of domains) {
    if (typeof d !== 'string') throw new InvalidInputError(`dns.domains: ${String(d)} is not a string`);
    const name = d.trim().toLowerCase().replace(/\.$/, '');
    const labels = name.split('.');
    if (name === '' || name.length > 253 || !labels.every((l) => DOMAIN_LABEL_RE.test(l))) {
      throw new InvalidInputError(`dns.domains: ${JSON.stringify(d)} is not a domain name (letters, digits, "-", dot-separated)`);
    }
    seen.set(name, { name, labels: labels.map((l) => new Uint8Array(Buffer.from(l, 'latin1'))) });
  }
  // Longest first, so `blog.apps.example.com` belongs to `apps.example.com`, not `example.com`.
  return [...seen.values()].sort((a, b) => b.labels.length - a.labels.length);
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
