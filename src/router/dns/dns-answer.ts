// What the summoning DNS server says, decided from a parsed query (no sockets here):
//
//   class not IN/ANY, name outside our zones, AXFR/IXFR ─► REFUSED (AA=0): not an open resolver
//   apex of a --domain ─► SOA, NS (naming the apex itself), A/AAAA of this server if given,
//                         else NODATA; ANY ─► SOA only (RFC 8482)
//   apex of localhost  ─► REFUSED: localhost is special-use (RFC 6761), we only hold app names under it
//   <app>.<zone>       ─► lookup(app): null ─► NXDOMAIN; throws ─► SERVFAIL
//                         A / AAAA / ANY ─► wake(app), then the addresses (none of the type: NODATA)
//                         any other type ─► NODATA, no wake
//   deeper names, names that cannot be apps ─► NXDOMAIN, lookup() not asked
//
// Negative answers (NXDOMAIN, NODATA) in a --domain carry its SOA in the authority section,
// whose TTL and MINIMUM are the short TTL, so resolvers cache "no such app" only that long
// (RFC 2308). Under localhost there is no SOA to give, so negatives there are not cached.

import net from 'node:net';
import type dnsPacket from 'dns-packet';
import { InvalidInputError } from '../../core/errors.js';
import { APP_NAME_RE } from '../../core/names.js';
import { CLASS_ANY, CLASS_IN, type DnsQuery, QTYPE, RCODE, type Reply } from './dns-message.js';

export interface DnsAddresses {
  a: string[];
  aaaa: string[];
}

export type DnsEvent =
  | { name: 'dns.malformed'; transport: 'udp' | 'tcp'; reason: string }
  | { name: 'dns.lookup_error'; app: string; error: string }
  | { name: 'dns.wake_error'; app: string; error: string }
  | { name: 'dns.socket_error'; transport: 'udp' | 'tcp'; error: string }
  | { name: 'dns.tcp_timeout' };

export interface AnswererOptions {
  domains: unknown;
  ttl: number;
  lookup: (app: string) => DnsAddresses | null;
  /** Addresses of this server: the A/AAAA of each --domain apex, which our NS record names. */
  serverAddresses?: DnsAddresses;
  /** Called for A/AAAA/ANY queries of an existing app, before the answer is encoded. */
  wake: (app: string) => void;
  emit: (e: DnsEvent) => void;
}

interface Zone {
  /** Lower case, no trailing dot. */
  name: string;
  labels: string[];
  /** False for localhost: we answer names under it, never for it. */
  claimsApex: boolean;
}

const DOMAIN_LABEL_RE = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;
/** SOA timers for secondaries we do not have (AXFR is refused); they only need to be sane. */
const SOA_REFRESH = 3600;
const SOA_RETRY = 600;
const SOA_EXPIRE = 86_400;

export class DnsAnswerer {
  private readonly zones: Zone[];

  constructor(private readonly o: AnswererOptions) {
    this.zones = parseDomains(o.domains);
  }

  answer(q: DnsQuery): Reply {
    if (q.edns && q.edns.version > 0) return { rcode: RCODE.BADVERS, aa: false };
    if (q.qclass !== CLASS_IN && q.qclass !== CLASS_ANY) return { rcode: RCODE.REFUSED, aa: false };
    const zone = this.zoneOf(q.labels);
    if (!zone || q.qtype === QTYPE.AXFR || q.qtype === QTYPE.IXFR) return { rcode: RCODE.REFUSED, aa: false };
    const depth = q.labels.length - zone.labels.length;
    if (depth === 0) return zone.claimsApex ? this.apex(zone, q) : { rcode: RCODE.REFUSED, aa: false };

    const negative = (rcode: number): Reply => ({ rcode, aa: true, authorities: zone.claimsApex ? [this.soa(zone)] : [] });
    const app = q.labels[0];
    if (depth > 1 || !APP_NAME_RE.test(app)) return negative(RCODE.NXDOMAIN);
    let addrs: DnsAddresses | null;
    try {
      addrs = this.o.lookup(app);
    } catch (e) {
      this.o.emit({ name: 'dns.lookup_error', app, error: (e as Error)?.message ?? String(e) });
      return { rcode: RCODE.SERVFAIL, aa: false };
    }
    if (!addrs) return negative(RCODE.NXDOMAIN);
    const wantA = q.qtype === QTYPE.A || q.qtype === QTYPE.ANY;
    const wantAAAA = q.qtype === QTYPE.AAAA || q.qtype === QTYPE.ANY;
    if (!wantA && !wantAAAA) return negative(RCODE.NOERROR);
    this.o.wake(app);
    const answers = addresses(q.name, addrs, wantA, wantAAAA, this.o.ttl);
    return answers.length > 0 ? { rcode: RCODE.NOERROR, aa: true, answers } : negative(RCODE.NOERROR);
  }

  private apex(zone: Zone, q: DnsQuery): Reply {
    const own = this.o.serverAddresses ?? { a: [], aaaa: [] };
    const ok = (answers: dnsPacket.Answer[], additionals: dnsPacket.Answer[] = []): Reply =>
      answers.length > 0 ? { rcode: RCODE.NOERROR, aa: true, answers, additionals } : { rcode: RCODE.NOERROR, aa: true, authorities: [this.soa(zone)] };
    switch (q.qtype) {
      case QTYPE.SOA:
        return ok([this.soa(zone, q.name)]);
      case QTYPE.NS:
        // The addresses of the name server, so a resolver need not ask again (glue-like).
        return ok([this.ns(zone, q.name)], addresses(zone.name, own, true, true, this.o.ttl));
      case QTYPE.ANY:
        // One RRset, as RFC 8482 allows: ANY is the amplifier's favourite question.
        return ok([this.soa(zone, q.name)]);
      case QTYPE.A:
      case QTYPE.AAAA:
        return ok(addresses(q.name, own, q.qtype === QTYPE.A, q.qtype === QTYPE.AAAA, this.o.ttl));
      default:
        return ok([]);
    }
  }

  private soa(zone: Zone, owner = zone.name): dnsPacket.SoaAnswer {
    const ttl = this.o.ttl;
    return {
      type: 'SOA', name: owner, class: 'IN', ttl,
      data: {
        mname: zone.name, rname: `hostmaster.${zone.name}`,
        // Nothing transfers this zone, so the serial never has to move.
        serial: 1, refresh: SOA_REFRESH, retry: SOA_RETRY, expire: SOA_EXPIRE, minimum: ttl,
      },
    };
  }

  private ns(zone: Zone, owner: string): dnsPacket.StringAnswer {
    return { type: 'NS', name: owner, class: 'IN', ttl: this.o.ttl, data: zone.name };
  }

  /** The longest of our zones the name is in, or null. */
  private zoneOf(labels: string[]): Zone | null {
    for (const z of this.zones) {
      const off = labels.length - z.labels.length;
      if (off >= 0 && z.labels.every((l, i) => labels[off + i] === l)) return z;
    }
    return null;
  }
}

/** A/AAAA records for `name`; entries that are not addresses are skipped (dns-packet would encode junk). */
function addresses(name: string, addrs: DnsAddresses, a: boolean, aaaa: boolean, ttl: number): dnsPacket.StringAnswer[] {
  const out: dnsPacket.StringAnswer[] = [];
  if (a && Array.isArray(addrs.a)) {
    for (const s of addrs.a) if (typeof s === 'string' && net.isIPv4(s)) out.push({ type: 'A', name, class: 'IN', ttl, data: s });
  }
  if (aaaa && Array.isArray(addrs.aaaa)) {
    for (const s of addrs.aaaa) {
      // A zone index (fe80::1%eth0) means nothing to another host.
      const bare = typeof s === 'string' ? s.replace(/%.*$/, '') : '';
      if (net.isIPv6(bare)) out.push({ type: 'AAAA', name, class: 'IN', ttl, data: bare });
    }
  }
  return out;
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
    seen.set(name, { name, labels, claimsApex: name !== 'localhost' });
  }
  // Longest first, so `blog.apps.example.com` belongs to `apps.example.com`, not `example.com`.
  return [...seen.values()].sort((a, b) => b.labels.length - a.labels.length);
}
