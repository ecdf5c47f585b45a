import { APP_NAME_RE } from '../core/names.js';

/** Result of looking at a Host header: an app name, or why there is none. */
export type HostMatch =
  | { kind: 'app'; app: string }
  | { kind: 'foreign'; host: string } // not under any domain we serve
  | { kind: 'invalid'; host: string } // not host[:port] at all (RFC 9112 §3.2: answer 400)
  | { kind: 'missing' };

const MISSING: HostMatch = { kind: 'missing' };
// RFC 3986 reg-name characters (IPv4 addresses included) and an optional numeric port.
const REG_NAME_RE = /^[a-z0-9._~!$&'()*+,;=%-]*$/;
const PORT_RE = /^[0-9]{0,5}$/;

/**
 * Maps Host headers to app names. Results are cached per raw header value because
 * the same few hosts arrive over and over; the cache is cleared when it grows past
 * `maxEntries` so a client inventing hosts cannot grow it without bound.
 */
export class HostParser {
  readonly domains: readonly string[];
  private readonly suffixes: string[];
  private readonly cache = new Map<string, HostMatch>();
  private readonly maxEntries: number;

  constructor(domains: readonly string[], maxEntries = 10_000) {
    if (domains.length === 0) throw new Error('router: domains must name at least one domain');
    for (const d of domains) {
      if (typeof d !== 'string' || !/^[a-z0-9-]+(\.[a-z0-9-]+)*$/.test(d)) {
        throw new Error(`router: domains: ${JSON.stringify(d)} is not a lower-case DNS name`);
      }
    }
    this.domains = [...domains];
    this.suffixes = domains.map((d) => '.' + d);
    this.maxEntries = maxEntries;
  }

  match(host: string | undefined): HostMatch {
    if (host === undefined || host === '') return MISSING;
    let m = this.cache.get(host);
    if (m !== undefined) return m;
    m = this.parse(host);
    if (this.cache.size >= this.maxEntries) this.cache.clear();
    this.cache.set(host, m);
    return m;
  }

  private parse(raw: string): HostMatch {
    let host = raw.trim().toLowerCase();
    if (host.startsWith('[')) return { kind: 'foreign', host }; // IPv6 literal
    const colon = host.lastIndexOf(':');
    if (colon !== -1) {
      // A non-numeric port would otherwise be stripped and the host routed, and the Host
      // forwarded as written (into Forwarded's quoted host= too).
      if (!PORT_RE.test(host.slice(colon + 1))) return { kind: 'invalid', host: raw };
      host = host.slice(0, colon);
    }
    if (!REG_NAME_RE.test(host)) return { kind: 'invalid', host: raw };
    if (host.endsWith('.')) host = host.slice(0, -1); // fully qualified form
    for (const suffix of this.suffixes) {
      if (host.length > suffix.length && host.endsWith(suffix)) {
        const name = host.slice(0, host.length - suffix.length);
        if (APP_NAME_RE.test(name)) return { kind: 'app', app: name };
      }
    }
    return { kind: 'foreign', host };
  }
}
