// Which addresses a webhook may be delivered to. Whoever holds an API token chooses a webhook's
// URL; Summon then POSTs to it from inside the network it runs in and records what the far end
// answered. Unchecked, a webhook reaches Summon's own API, the cloud metadata service and every
// host on the private network, and its delivery log tells open ports from closed ones. So the
// address actually dialled is checked at every delivery (resolved once, every answer checked,
// then exactly that address connected to: a name that changes its answer in between gains
// nothing), and literal addresses are checked at creation too, so the mistake is heard at once.
// `summon up --webhooks-allow-private` lifts the address check for receivers on one's own network.
import type { LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { lookup as dnsLookup } from 'node:dns/promises';

export const ALLOW_PRIVATE_HINT = 'summon up --webhooks-allow-private allows it';

/** Resolves a host name to every address it has (dns.promises.lookup with all: true). */
export type Resolver = (host: string) => Promise<LookupAddress[]>;
export const systemResolver: Resolver = (host) => dnsLookup(host, { all: true });

type Ranges = [reason: string, family: 'ipv4' | 'ipv6', subnets: [string, number][]][];

function lists(ranges: Ranges): { reason: string; family: 'ipv4' | 'ipv6'; list: BlockList }[] {
  return ranges.map(([reason, family, subnets]) => {
    const list = new BlockList();
    for (const [net, prefix] of subnets) list.addSubnet(net, prefix, family);
    return { reason, family, list };
  });
}

// First match names the reason, so the narrow ranges come before the ones holding them.
const BLOCKED = lists([
  ['the cloud metadata address', 'ipv4', [['169.254.169.254', 32], ['100.100.100.200', 32]]],
  ['an unspecified address', 'ipv4', [['0.0.0.0', 8]]],
  ['a loopback address', 'ipv4', [['127.0.0.0', 8]]],
  ['a link-local address', 'ipv4', [['169.254.0.0', 16]]],
  ['a private address', 'ipv4', [['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16]]],
  ['a carrier-grade NAT address', 'ipv4', [['100.64.0.0', 10]]],
  ['a multicast address', 'ipv4', [['224.0.0.0', 4]]],
  ['a broadcast address', 'ipv4', [['255.255.255.255', 32]]],
  ['a reserved address', 'ipv4', [['240.0.0.0', 4]]],
  ['an unspecified address', 'ipv6', [['::', 128]]],
  ['a loopback address', 'ipv6', [['::1', 128]]],
  ['a link-local address', 'ipv6', [['fe80::', 10]]],
  // AWS's IMDS over IPv6; inside fc00::/7 anyway, named for the message.
  ['the cloud metadata address', 'ipv6', [['fd00:ec2::254', 128]]],
  ['a private address', 'ipv6', [['fc00::', 7]]],
  ['a site-local address', 'ipv6', [['fec0::', 10]]],
  ['a multicast address', 'ipv6', [['ff00::', 8]]],
  // RFC 8215 leaves where the IPv4 address sits up to the network: refuse the whole prefix.
  ['a local-use NAT64 address', 'ipv6', [['64:ff9b:1::', 48]]],
]);

// IPv6 forms that carry an IPv4 address and reach it: judged by the address they carry.
// `at` is the index of the 16-bit group where the IPv4 address starts.
const EMBEDDING = lists([
  ['IPv4-mapped', 'ipv6', [['::ffff:0:0', 96]]],
  ['NAT64', 'ipv6', [['64:ff9b::', 96]]],
  ['6to4', 'ipv6', [['2002::', 16]]],
  ['IPv4-compatible', 'ipv6', [['::', 96]]],
]).map((e) => ({ ...e, at: e.reason === '6to4' ? 1 : 6 }));

/** The eight 16-bit groups of an IPv6 address (`::` and a dotted IPv4 tail expanded). */
function ipv6Groups(ip: string): number[] {
  let text = ip;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted[1].split('.').map(Number);
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const part = (s: string | undefined) => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const h = part(head);
  const t = part(tail);
  return tail === undefined ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
}

function embeddedIpv4(groups: number[], at: number): string {
  const [hi, lo] = [groups[at], groups[at + 1]];
  return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
}

/**
 * Why `ip` may not be a webhook target ("a loopback address", "IPv4-mapped 127.0.0.1, a
 * loopback address"), or null when it may. Anything that is not a plain IP is refused: it
 * cannot be checked.
 */
export function blockedReason(ip: string): string | null {
  const addr = ip.replace(/^\[|\]$/g, '').replace(/%.*$/, ''); // brackets; a zone id (fe80::1%eth0)
  const v = isIP(addr);
  if (v === 0) return 'not an IP address Summon can check';
  if (v === 4) return BLOCKED.find((b) => b.family === 'ipv4' && b.list.check(addr, 'ipv4'))?.reason ?? null;
  if (addr !== '::' && addr !== '::1') {
    const e = EMBEDDING.find((x) => x.list.check(addr, 'ipv6'));
    if (e) {
      const inner = embeddedIpv4(ipv6Groups(addr), e.at);
      const why = blockedReason(inner);
      return why ? `${e.reason} ${inner}, ${why}` : null;
    }
  }
  return BLOCKED.find((b) => b.family === 'ipv6' && b.list.check(addr, 'ipv6'))?.reason ?? null;
}

/** This host's own addresses: a public one reaches Summon's API and what a firewall keeps from outside. */
function ownAddresses(): BlockList {
  const list = new BlockList();
  for (const infos of Object.values(networkInterfaces())) {
    for (const i of infos ?? []) list.addAddress(i.address.replace(/%.*$/, ''), i.family === 'IPv6' ? 'ipv6' : 'ipv4');
  }
  return list;
}

/** blockedReason, and addresses of this host (read now: interfaces come and go). */
export function refusedReason(ip: string): string | null {
  const why = blockedReason(ip);
  if (why) return why;
  const addr = ip.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  return ownAddresses().check(addr, isIP(addr) === 6 ? 'ipv6' : 'ipv4') ? 'an address of this host' : null;
}

/** The URL as it may be shown: a password in it is replaced by ***. */
export function shownUrl(u: URL): string {
  if (!u.password) return u.toString();
  const c = new URL(u.toString());
  c.password = '***';
  return c.toString();
}

/** A URL's host as dialled: an IPv6 literal without its brackets. */
export function dialHost(u: URL): string {
  return u.hostname.replace(/^\[|\]$/g, '');
}

const CREDENTIALS = 'it carries a user name or password (user:pass@)';

/**
 * What is wrong with a webhook URL at creation, before anything is resolved (null when
 * nothing is): credentials in it, or a host that is a blocked literal address or a name that
 * is loopback by definition (localhost, *.localhost: RFC 6761). Other names are checked when
 * they are resolved, at each delivery: what they resolve to now says nothing about later.
 */
export function urlProblem(u: URL, allowPrivate: boolean): string | null {
  if (u.username || u.password) return CREDENTIALS;
  if (allowPrivate) return null;
  const host = dialHost(u);
  if (isIP(host)) {
    const why = refusedReason(host);
    return why ? `${host} is ${why}` : null;
  }
  if (/(^|\.)localhost\.?$/i.test(host)) return `${host} is a loopback name`;
  return null;
}

export type Target = { ok: true; url: URL; addresses: LookupAddress[] } | { ok: false; refused: string };

/**
 * Resolves a webhook URL's host once and checks every address it resolved to. A refusal says
 * what was refused and how to allow it; the caller connects to `addresses` and nothing else.
 * Resolver errors (no such name) are thrown, as network errors worth retrying.
 */
export async function resolveTarget(raw: string, o: { allowPrivate: boolean; resolve: Resolver }): Promise<Target> {
  // The checks below repeat creation's for webhooks stored before it made them.
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return { ok: false, refused: 'refused: the URL does not parse (remove the webhook and add it again)' };
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return { ok: false, refused: `refused: ${u.protocol} is not http: or https: (remove the webhook and add it again)` };
  if (u.username || u.password) return { ok: false, refused: `refused: ${CREDENTIALS} (remove the webhook and add it again without them)` };
  const host = dialHost(u);
  const v = isIP(host);
  const addresses = v ? [{ address: host, family: v }] : await o.resolve(host);
  if (!addresses.length) throw new Error(`${host} resolved to no address`);
  if (!o.allowPrivate) {
    for (const a of addresses) {
      const why = refusedReason(a.address);
      if (!why) continue;
      const what = v ? `${a.address} is ${why}` : `${host} resolves to ${a.address}, ${why}`;
      return { ok: false, refused: `refused: ${what} (${ALLOW_PRIVATE_HINT})` };
    }
  }
  return { ok: true, url: u, addresses };
}
