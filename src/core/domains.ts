// Custom domains (`summon domains:add`): the rules a hostname must meet before an app may own
// it, and how a request's host is matched against the names an app owns or a certificate
// covers. Pure: every rule is in domains.test.ts.
//
// A domain is a DNS name, lower-cased (an internationalized name is taken in its punycode
// form), at most 253 characters, labels of 1-63 letters, digits and hyphens (not first or
// last), at least two labels, not an IP address, no port, scheme, path or trailing dot. A
// wildcard is `*.` before at least two labels (`*.example.com`, never `*.com`, `a.*.com`,
// `*foo.com`) and covers exactly one label more: `a.example.com`, not `example.com` nor
// `a.b.example.com`. Names under the domains Summon serves apps at (NAME.localhost, NAME.D of
// `--domain D`) are not custom domains: they already name apps.
import { domainToASCII } from 'node:url';
import { InvalidInputError } from './errors.js';

/** Most custom domains one app may own (each is a map entry on every data plane). */
export const MAX_DOMAINS_PER_APP = 50;
export const MAX_HOSTNAME_LENGTH = 253;

const LABEL_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const IPV4_RE = /^\d{1,3}(?:\.\d{1,3}){3}$/;

/** `raw` as a domain an app may own, lower-cased (punycode for IDNs), or InvalidInputError saying why. */
export function checkDomain(raw: unknown, served: readonly string[] = []): string {
  if (typeof raw !== 'string' || raw.trim() === '') throw bad(raw, 'give a hostname like www.example.com');
  const text = raw.trim();
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) throw bad(raw, `give the hostname alone, without the scheme: ${hostOf(text) ?? 'www.example.com'}`);
  if (/[/?#@\s]/.test(text)) throw bad(raw, 'give the hostname alone: no path, query, user or spaces');
  if (text.startsWith('[') || text.includes('::')) throw bad(raw, 'an IP address is not a domain: give a hostname like www.example.com');
  if (/:\d*$/.test(text)) throw bad(raw, `give the hostname without a port (${text.replace(/:\d*$/, '')}): a domain is served on the router's ports`);
  let host = text.toLowerCase();
  if (host.endsWith('.')) host = host.slice(0, -1);
  const wildcard = host.startsWith('*.');
  const rest = wildcard ? host.slice(2) : host;
  if (rest.includes('*')) throw bad(raw, 'a wildcard is `*.` before the rest of the name, as in *.example.com (one `*`, the whole first label)');
  // Unicode names (bücher.example) are taken in their punycode form, as DNS and SNI carry them.
  const ascii = /^[\x21-\x7e]*$/.test(rest) ? rest : domainToASCII(rest);
  if (ascii === '') throw bad(raw, 'it is not a valid internationalized domain name');
  const name = wildcard ? `*.${ascii}` : ascii;
  if (name.length > MAX_HOSTNAME_LENGTH) throw bad(raw, `a hostname is at most ${MAX_HOSTNAME_LENGTH} characters, this one is ${name.length}`);
  if (IPV4_RE.test(ascii)) throw bad(raw, 'an IP address is not a domain: give a hostname like www.example.com');
  const labels = ascii.split('.');
  for (const l of labels) {
    if (!LABEL_RE.test(l)) {
      throw bad(raw, l.length === 0 ? 'it has an empty label (two dots in a row?)'
        : l.length > 63 ? `the label ${l.slice(0, 20)}… is longer than 63 characters`
          : `the label ${JSON.stringify(l)} may hold only letters, digits and hyphens, and not begin or end with a hyphen`);
    }
  }
  if (labels.length < 2) throw bad(raw, wildcard ? 'a wildcard needs at least two labels after it: *.example.com, not *.com' : 'a domain has at least two labels, like example.com');
  if (/^\d+$/.test(labels[labels.length - 1])) throw bad(raw, 'the last label of a domain is not all digits');
  for (const d of served) {
    if (ascii === d || ascii.endsWith(`.${d}`)) {
      throw bad(raw, `names under ${d} are how Summon serves apps already (NAME.${d}): a custom domain is one of your own, like www.example.com`);
    }
  }
  return name;
}

/** Whether a certificate (or domain) name `pattern` covers `host`: equal, or `*.rest` over one more label. */
export function nameCovers(pattern: string, host: string): boolean {
  if (pattern === host) return true;
  if (!pattern.startsWith('*.') || host.startsWith('*.')) return false;
  const dot = host.indexOf('.');
  return dot > 0 && host.slice(dot + 1) === pattern.slice(2);
}

/** The owner of `host` in `domains` (exact name first, then the wildcard one label up). */
export function ownerOf(domains: Readonly<Record<string, string>>, host: string): string | undefined {
  const exact = domains[host];
  if (exact !== undefined) return exact;
  const dot = host.indexOf('.');
  return dot > 0 ? domains[`*.${host.slice(dot + 1)}`] : undefined;
}

function hostOf(url: string): string | null {
  try {
    return new URL(url).hostname || null;
  } catch {
    return null;
  }
}

function bad(raw: unknown, why: string): InvalidInputError {
  return new InvalidInputError(`${JSON.stringify(typeof raw === 'string' ? raw : String(raw))} is not a domain an app can own: ${why}`, { field: 'host' });
}
