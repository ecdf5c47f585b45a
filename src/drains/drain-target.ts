// Where a log drain sends: the URL checked at creation (scheme, no credentials, a real host
// and port, the same address rules as webhooks) and the host resolved and checked again at
// every connection. A drain is like a webhook in what it could reach: whoever holds a token
// picks the address, and Summon connects to it from inside its own network, so loopback,
// private, link-local and metadata addresses are refused unless `summon up
// --drains-allow-private` says receivers on one's own network are meant.
import type { LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import { InvalidInputError } from '../core/errors.js';
import { refusedReason, urlProblem, type Resolver } from '../notify/webhook-targets.js';

export const DRAINS_ALLOW_PRIVATE_HINT = 'summon up --drains-allow-private allows it';
const EXAMPLES = 'syslog+tls://logs.example.com:6514, syslog://logs.example.com:514 or https://logs.example.com/ingest';

export type DrainKind = 'syslog' | 'syslog+tls' | 'https';

export interface DrainTarget {
  kind: DrainKind;
  /** Host name or IP address as dialled (an IPv6 literal without brackets). */
  host: string;
  port: number;
  /** The canonical URL (what is stored and shown). */
  url: URL;
}

const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

function refuse(raw: string, why: string): never {
  throw new InvalidInputError(`drain URL ${raw} is refused: ${why}`);
}

/**
 * Parses a drain URL into what is dialled, or throws InvalidInputError saying what to write
 * instead. Non-special schemes (syslog:) get none of the WHATWG host processing (numeric IPv4
 * forms, IDNA, percent-decoding), so the host is re-read as an https URL's host: the name a
 * resolver would see is the one checked and stored (`syslog://2130706433:514` is 127.0.0.1).
 */
export function parseDrainUrl(raw: unknown): DrainTarget {
  if (typeof raw !== 'string' || !raw.trim()) throw new InvalidInputError(`a drain needs a URL, e.g. ${EXAMPLES}`);
  const text = raw.trim();
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new InvalidInputError(`drain URL is not a URL: ${JSON.stringify(text)} (write e.g. ${EXAMPLES})`);
  }
  const scheme = u.protocol.slice(0, -1);
  if (scheme !== 'syslog' && scheme !== 'syslog+tls' && scheme !== 'https') {
    const hint = scheme === 'http' ? 'use https:// (lines are not sent in the clear over HTTP)'
      : scheme === 'syslog+udp' || scheme === 'udp' ? 'UDP loses lines silently: use syslog:// (TCP) or syslog+tls://'
        : `write e.g. ${EXAMPLES}`;
    refuse(text, `${u.protocol} is not syslog:, syslog+tls: or https: (${hint})`);
  }
  if (u.username || u.password) {
    refuse(text, 'it carries a user name or password (user:pass@); for an HTTPS receiver that wants a token, put it in the path or query');
  }
  if (u.hash) refuse(text, 'a #fragment is never sent: remove it');
  if (!u.host) refuse(text, `it names no host (write e.g. ${EXAMPLES})`);
  let host: URL;
  try {
    host = new URL(`https://${u.host}/`);
  } catch {
    refuse(text, `${JSON.stringify(u.host)} is not a host name or IP address`);
  }
  const hostname = host.hostname.replace(/^\[|\]$/g, '');
  if (!isIP(hostname)) {
    const name = hostname.replace(/\.$/, '');
    if (name.length > 253 || !name.split('.').every((l) => LABEL.test(l))) {
      refuse(text, `${JSON.stringify(hostname)} is not a host name: letters, digits, "-" and "_" in dot-separated labels of at most 63`);
    }
  }
  if (scheme === 'https') {
    const port = host.port ? Number(host.port) : 443;
    const url = new URL(`https://${host.host}${u.pathname}${u.search}`);
    return { kind: 'https', host: hostname, port, url };
  }
  if (!host.port) refuse(text, `a syslog drain needs a port: ${scheme}://${host.host}:PORT (6514 is usual for syslog+tls, 514 or 601 for syslog)`);
  if ((u.pathname && u.pathname !== '/') || u.search) refuse(text, `a syslog drain is ${scheme}://HOST:PORT with no path or query`);
  const port = Number(host.port);
  if (port < 1) refuse(text, 'port 0 cannot be connected to');
  return { kind: scheme, host: hostname, port, url: new URL(`${scheme}://${host.host}`) };
}

/** The canonical form of a drain URL as stored: `syslog+tls://logs.example.com:6514`. */
export function drainUrlText(t: DrainTarget): string {
  return t.kind === 'https' ? t.url.toString() : `${t.kind}://${t.url.host}`;
}

/** Checks a drain URL at creation and returns it canonical; `allowPrivate` is `--drains-allow-private`. */
export function checkDrainUrl(raw: unknown, allowPrivate: boolean): string {
  const t = parseDrainUrl(raw);
  // urlProblem judges the host as webhooks do: blocked literals and localhost names. It takes a
  // URL and only reads its host, so any scheme carrying the same host will do.
  const problem = urlProblem(new URL(`https://${t.url.host}/`), allowPrivate);
  if (problem) refuse(drainUrlText(t), `${problem}; ${DRAINS_ALLOW_PRIVATE_HINT}`);
  return drainUrlText(t);
}

/** A connection that must not be made: not worth retrying quickly, and said as it is. */
export class DrainRefusedError extends Error {}

/**
 * Resolves the host once and checks every address it resolved to; the caller connects to
 * these and nothing else (a name that changes its answer in between gains nothing). Resolver
 * errors are thrown as they are: a name that does not resolve now may resolve later.
 */
export async function resolveDrainHost(t: DrainTarget, o: { allowPrivate: boolean; resolve: Resolver }): Promise<LookupAddress[]> {
  const v = isIP(t.host);
  const addresses = v ? [{ address: t.host, family: v }] : await o.resolve(t.host);
  if (!addresses.length) throw new Error(`${t.host} resolved to no address`);
  if (!o.allowPrivate) {
    for (const a of addresses) {
      const why = refusedReason(a.address);
      if (!why) continue;
      const what = v ? `${a.address} is ${why}` : `${t.host} resolves to ${a.address}, ${why}`;
      throw new DrainRefusedError(`refused: ${what} (${DRAINS_ALLOW_PRIVATE_HINT})`);
    }
  }
  return addresses;
}
