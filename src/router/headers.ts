// Header rewriting on raw header arrays ([name, value, name, value, ...]). Working on
// `rawHeaders` avoids Node building the lazy `headers` object, and arrays go straight
// into `http.request({ headers })` and `res.writeHead()` without a copy into an object.

/** What the request-head scan learned, besides the rewritten header list. */
export interface RequestHead {
  host: string | undefined;
  /** The request may carry a body (Content-Length > 0 or Transfer-Encoding). */
  hasBody: boolean;
  headers: string[];
}

// Names of the same length as a hop-by-hop name are lower-cased for comparison;
// everything else is copied without touching it.
export function scanRequestHead(raw: string[], clientIp: string | undefined, proto: string): RequestHead {
  const out: string[] = [];
  let host: string | undefined;
  let hasBody = false;
  let xff: string | undefined;
  let connection: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    const value = raw[i + 1];
    switch (name.length) {
      case 2:
        if (name.toLowerCase() === 'te') continue;
        break;
      case 4:
        if (host === undefined && name.toLowerCase() === 'host') host = value;
        break;
      case 7: {
        const n = name.toLowerCase();
        if (n === 'upgrade' || n === 'trailer') continue;
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
        if (name.toLowerCase() === 'x-forwarded-for') {
          xff = xff === undefined ? value : xff + ', ' + value;
          continue;
        }
        break;
      case 16: {
        const n = name.toLowerCase();
        if (n === 'proxy-connection' || n === 'x-forwarded-host') continue;
        break;
      }
      case 17: {
        const n = name.toLowerCase();
        if (n === 'transfer-encoding') hasBody = true;
        else if (n === 'x-forwarded-proto') continue;
        break;
      }
      case 19:
        if (name.toLowerCase() === 'proxy-authorization') continue;
        break;
    }
    out.push(name, value);
  }
  const headers = connection === undefined ? out : dropConnectionTokens(out, connection);
  const ip = clientIp ?? '';
  headers.push(
    'X-Forwarded-For',
    xff === undefined ? ip : xff + ', ' + ip,
    'X-Forwarded-Proto',
    proto,
  );
  if (host !== undefined) headers.push('X-Forwarded-Host', host);
  return { host, hasBody, headers };
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
