// Header rewriting on raw header arrays ([name, value, name, value, ...]). Working on
// `rawHeaders` avoids Node building the lazy `headers` object, and arrays go straight
// into `http.request({ headers })` and `res.writeHead()` without a copy into an object.

import type { BadHead } from './messages.js';
import { parseAbsoluteTarget } from './request-target.js';

/** What the request-head scan learned, besides the rewritten header list. */
export interface RequestHead {
  /** The host to route by: an absolute-form target's authority, else the Host header. */
  host: string | undefined;
  /** The request may carry a body (Content-Length > 0 or Transfer-Encoding). */
  hasBody: boolean;
  headers: string[];
  /** The target to send upstream, always in origin form ('/...', or '*'). */
  path: string;
  /** Why the head must be answered 400 (and the connection closed), or null. */
  bad: BadHead | null;
}

function refused(bad: BadHead, host: string | undefined, path: string): RequestHead {
  return { host, hasBody: true, headers: [], path, bad };
}

// What node:http's parser (llhttp) already refuses, and so is not checked again here
// (client-edge.ts answers it 400): Content-Length with Transfer-Encoding, duplicate or
// conflicting Content-Length, a non-numeric Content-Length, chunked that is not the last
// coding, chunked twice. What it lets through and is refused here: a second Host, any Transfer-Encoding other than one plain `chunked`
// (`identity, chunked`, `gzip`, a second Transfer-Encoding header), Transfer-Encoding in
// HTTP/1.0 (RFC 9112 §6.1: its framing is faulty), and absolute-form targets we cannot use.
//
// The forwarding headers (Forwarded, X-Forwarded-*, X-Real-IP) are always Summon's own:
// a client's values are dropped, never appended to, since nothing vouches for them.
//
// Names of the same length as a name of interest are lower-cased for comparison;
// everything else is copied without touching it.
export function scanRequestHead(raw: string[], url: string, http10: boolean, clientIp: string | undefined, proto: string): RequestHead {
  let path = url;
  let authority: string | undefined;
  // The origin form ('/...') and '*' are the usual case: one character code, nothing more.
  const c0 = url.charCodeAt(0);
  if (c0 !== 0x2f && c0 !== 0x2a) {
    const t = parseAbsoluteTarget(url);
    if (t === undefined) return refused('bad_target', undefined, url);
    authority = t.authority;
    path = t.path;
  }
  const out: string[] = [];
  let host: string | undefined;
  let hostSeen = false;
  let chunked = false;
  let hasBody = false;
  let connection: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    const value = raw[i + 1];
    switch (name.length) {
      case 2:
        if (name.toLowerCase() === 'te') continue;
        break;
      case 4:
        if (name.toLowerCase() === 'host') {
          if (hostSeen) return refused('duplicate_host', host, path);
          hostSeen = true;
          host = value;
          // RFC 9112 §3.2.2: the target's authority wins, and is what the upstream is told.
          if (authority !== undefined) {
            out.push(name, authority);
            continue;
          }
        }
        break;
      case 7: {
        const n = name.toLowerCase();
        if (n === 'upgrade' || n === 'trailer') continue;
        break;
      }
      case 9: {
        // `sec-ch-ua` is 9 long too and comes with every request from Chrome: look before lower-casing.
        const c = name.charCodeAt(0) | 0x20;
        if (c === 0x66 /* f */ || c === 0x78 /* x */) {
          const n = name.toLowerCase();
          if (n === 'forwarded' || n === 'x-real-ip') continue;
        }
        break;
      }
      case 10: {
        const n = name.toLowerCase();
        if (n === 'connection') {
          connection = connection === undefined ? value : connection + ',' + value;
          continue;
        }
        if (n === 'keep-alive') continue;
        break;
      }
      case 14:
        if (name.toLowerCase() === 'content-length' && value !== '0') hasBody = true;
        break;
      case 15:
        if (name.toLowerCase() === 'x-forwarded-for') continue;
        break;
      case 16: {
        const n = name.toLowerCase();
        if (n === 'proxy-connection' || n === 'x-forwarded-host') continue;
        break;
      }
      case 17: {
        const n = name.toLowerCase();
        if (n === 'transfer-encoding') {
          // Forwarded as written, `identity, chunked` reaches a pooled upstream connection whose
          // small HTTP stack may frame the body differently from us: a request smuggled inside.
          if (chunked || value.length !== 7 || value.toLowerCase() !== 'chunked') return refused('bad_transfer_encoding', host, path);
          if (http10) return refused('http10_transfer_encoding', host, path);
          chunked = true;
          hasBody = true;
          out.push(name, 'chunked');
          continue;
        }
        if (n === 'x-forwarded-proto') continue;
        break;
      }
      case 19:
        if (name.toLowerCase() === 'proxy-authorization') continue;
        break;
    }
    out.push(name, value);
  }
  const headers = connection === undefined ? out : dropConnectionTokens(out, connection);
  if (authority !== undefined) {
    // HTTP/1.1 requires a Host even then (RFC 9112 §3.2); HTTP/1.0 may go without.
    if (!hostSeen && http10) headers.push('Host', authority);
    host = hostSeen || http10 ? authority : undefined;
  }
  const ip = clientIp ?? '';
  headers.push('X-Forwarded-For', ip, 'X-Forwarded-Proto', proto);
  if (host !== undefined) headers.push('X-Forwarded-Host', host);
  headers.push('X-Real-IP', ip, 'Forwarded', forwardedValue(ip, host, proto));
  return { host, hasBody, headers, path, bad: null };
}

/**
 * RFC 7239: `for=1.2.3.4;host="blog.localhost";proto=http`. An IPv6 address is quoted in
 * brackets; the host is quoted, and holds no quote or backslash because only hosts that
 * name an app (DNS labels and a numeric port, see host-parser.ts) are ever forwarded.
 */
function forwardedValue(ip: string, host: string | undefined, proto: string): string {
  const node = ip === '' ? 'unknown' : ip.indexOf(':') === -1 ? ip : '"[' + ip + ']"';
  return host === undefined ? 'for=' + node + ';proto=' + proto : 'for=' + node + ';host="' + host + '";proto=' + proto;
}

/** Response headers from an upstream, minus hop-by-hop ones. Transfer-Encoding stays: Node re-frames it. */
export function filterResponseHeaders(raw: string[]): string[] {
  const out: string[] = [];
  let connection: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    switch (name.length) {
      case 7: {
        const n = name.toLowerCase();
        if (n === 'upgrade' || n === 'trailer') continue;
        break;
      }
      case 10: {
        const n = name.toLowerCase();
        if (n === 'connection') {
          connection = connection === undefined ? raw[i + 1] : connection + ',' + raw[i + 1];
          continue;
        }
        if (n === 'keep-alive') continue;
        break;
      }
      case 16:
        if (name.toLowerCase() === 'proxy-connection') continue;
        break;
      case 18:
        if (name.toLowerCase() === 'proxy-authenticate') continue;
        break;
    }
    out.push(name, raw[i + 1]);
  }
  return connection === undefined ? out : dropConnectionTokens(out, connection);
}

/** Removes headers named in Connection (RFC 9110 7.6.1), except the usual close/keep-alive tokens. */
function dropConnectionTokens(headers: string[], connection: string): string[] {
  // the common values name no other header: skip the split
  if (connection.length <= 10) {
    const c = connection.toLowerCase();
    if (c === 'keep-alive' || c === 'close') return headers;
  }
  const drop = new Set<string>();
  for (const t of connection.split(',')) {
    const n = t.trim().toLowerCase();
    if (n !== '' && n !== 'close' && n !== 'keep-alive') drop.add(n);
  }
  if (drop.size === 0) return headers;
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    if (!drop.has(headers[i].toLowerCase())) out.push(headers[i], headers[i + 1]);
  }
  return out;
}

/** The Content-Length of a raw header list, or -1 when there is none; reads no other header. */
export function contentLengthOf(raw: string[]): number {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    if (name.length === 14 && name.toLowerCase() === 'content-length') return Number(raw[i + 1]);
  }
  return -1;
}
