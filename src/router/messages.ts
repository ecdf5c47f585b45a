// Plain-text bodies for the responses the router makes itself. Each says what
// happened and what to do next.

export function unknownAppBody(host: string, app: string): string {
  return `No app named "${app}" is served at ${host}.\nCreate it with: summon apps:create ${app}\n`;
}

export function foreignHostBody(host: string, domains: readonly string[]): string {
  const served = domains.map((d) => `NAME.${d}`).join(', ');
  return `Host "${host}" is not served here. This router serves ${served}.\n`;
}

export const MISSING_HOST_BODY = 'The request has no Host header; send Host: NAME.localhost to reach app NAME.\n';

export function noReleaseBody(app: string): string {
  return `App "${app}" has no release yet. Deploy it with: git push (see \`summon apps:info ${app}\` for the remote).\n`;
}

export function holdFullBody(app: string, max: number): string {
  return `App "${app}" is starting and already has ${max} requests waiting for it. Retry shortly.\n`;
}

export function holdTimeoutBody(app: string, waitedMs: number): string {
  return `App "${app}" did not become ready within ${Math.round(waitedMs / 100) / 10}s. Retry shortly; \`summon ps -a ${app}\` shows its instances.\n`;
}

export function appGoneBody(app: string): string {
  return `App "${app}" was deleted while this request waited.\n`;
}

/** `why` says why the request was not retried (or how often it was). */
export function badGatewayBody(app: string, error: string, why: string): string {
  return `App "${app}" failed to answer this request (${error}). ${why} \`summon logs -a ${app}\` shows what the app printed.\n`;
}

export function gatewayTimeoutBody(app: string, ms: number): string {
  return `App "${app}" did not start its response within ${ms / 1000}s.\n`;
}

export const SHUTTING_DOWN_BODY = 'The router is shutting down. Retry shortly.\n';

// ── answers at the edge: refused heads, timeouts, connection limits ──

/** Stable reasons a request head is refused with 400; see badRequestBody. */
export type BadHead = 'duplicate_host' | 'invalid_host' | 'bad_transfer_encoding' | 'http10_transfer_encoding' | 'bad_target';

export function badRequestBody(reason: BadHead, host?: string): string {
  switch (reason) {
    case 'duplicate_host':
      return 'The request has more than one Host header; send exactly one.\n';
    case 'invalid_host':
      return `Host "${host ?? ''}" is not a valid host[:port]; send Host: NAME.localhost to reach app NAME.\n`;
    case 'bad_transfer_encoding':
      return 'The request\'s Transfer-Encoding is not accepted here: send one "Transfer-Encoding: chunked" header, or a Content-Length.\n';
    case 'http10_transfer_encoding':
      return 'An HTTP/1.0 request cannot use Transfer-Encoding; send a Content-Length, or use HTTP/1.1.\n';
    case 'bad_target':
      return 'The request target must be a path (/...) or an http:// or https:// URL with a host and no user name.\n';
  }
}

/** A head node:http's parser refused; `reason` is the parser's own short description. */
export function malformedBody(reason: string): string {
  return `The request is not valid HTTP/1.1 (${reason}), so the connection is closed.\n`;
}

export function headersTooLargeBody(maxBytes: number): string {
  return `The request headers are larger than ${Math.round(maxBytes / 1024)} KB. Send fewer or smaller headers (large cookies are the usual cause).\n`;
}

export function headerTimeoutBody(ms: number): string {
  return `The request headers did not arrive within ${ms / 1000}s, so the connection is closed.\n`;
}

export const CONNECT_BODY = 'CONNECT is not supported: this router forwards HTTP requests to apps, it is not a forward proxy.\n';

export function tooManyConnectionsBody(max: number): string {
  return `The router already has ${max} open connections. Retry shortly.\n`;
}

export function tooManyFromAddressBody(max: number): string {
  return `Your address already has ${max} open connections to this router. Close idle ones, or retry shortly.\n`;
}
