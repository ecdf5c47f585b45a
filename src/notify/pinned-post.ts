// One POST to addresses checked beforehand. node:http/https take a `lookup` function: given
// one that answers with the checked addresses only, the socket goes where the check said and
// nowhere else, while the request still carries the URL's own Host header and (https) SNI
// and certificate name. Global fetch has no such hook on Node 20 without undici's Agent.
// Redirects are never followed: a 3xx is an answer like any other non-2xx.
import http from 'node:http';
import https from 'node:https';
import type { LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';

export interface PinnedPost {
  url: URL;
  /** Where to connect: what the host name resolved to, already checked. */
  addresses: LookupAddress[];
  headers: Record<string, string>;
  body: string;
  signal: AbortSignal;
  /** Trusted CA certificates (PEM) in place of Node's defaults (https; log drains' --drain-ca). */
  ca?: string[];
}

/** A lookup that answers only `host`, and only with `addresses`. */
export function pinnedLookup(host: string, addresses: LookupAddress[]): LookupFunction {
  return ((name: string, options: { all?: boolean }, cb: (err: Error | null, a: string | LookupAddress[], f?: number) => void) => {
    if (name !== host) return cb(new Error(`refused to resolve ${name}: only ${host} was checked`), '');
    // Node 20 asks for every address (all: true) when it tries families in turn (autoSelectFamily).
    if (options.all) return cb(null, addresses);
    cb(null, addresses[0].address, addresses[0].family);
  }) as LookupFunction;
}

/** Resolves with the answer's status once its body has been read (and discarded). */
export function pinnedPost(p: PinnedPost): Promise<number> {
  const host = p.url.hostname.replace(/^\[|\]$/g, '');
  const tls = p.url.protocol === 'https:';
  return new Promise<number>((resolve, reject) => {
    const req = (tls ? https : http).request({
      method: 'POST',
      host,
      ...(p.url.port ? { port: Number(p.url.port) } : {}),
      path: `${p.url.pathname}${p.url.search}`,
      headers: { ...p.headers, 'content-length': String(Buffer.byteLength(p.body)) },
      lookup: pinnedLookup(host, p.addresses),
      // No pooling: a socket outlives neither its delivery nor a closing notifier.
      agent: false,
      signal: p.signal,
      ...(tls && !isIP(host) ? { servername: host } : {}),
      ...(tls && p.ca ? { ca: p.ca } : {}),
    }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
      res.once('error', reject);
      res.once('close', () => { if (!res.complete) reject(new Error('the connection closed before the answer ended')); });
    });
    req.once('error', reject);
    req.end(p.body);
  });
}
