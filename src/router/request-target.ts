// Absolute-form request targets (`GET http://blog.localhost/x HTTP/1.1`, RFC 9112 §3.2.2).
// A server must accept them, and then the target's authority, not the Host header, names
// the resource. Upstreams get the origin form (`/x`) and a Host built from the authority:
// small unikernel HTTP stacks often parse nothing else.

export interface AbsoluteTarget {
  authority: string;
  /** The origin form: path and query, always starting with '/'. */
  path: string;
}

/**
 * Splits an absolute-form target, or returns undefined when it is not one the router
 * serves: a scheme other than http/https, an empty authority, or user info (which RFC 9110
 * §4.2.4 says to treat as an error). Called only for targets not starting with '/' or '*'.
 */
export function parseAbsoluteTarget(url: string): AbsoluteTarget | undefined {
  let i: number;
  if (url.length > 7 && url.slice(0, 7).toLowerCase() === 'http://') i = 7;
  else if (url.length > 8 && url.slice(0, 8).toLowerCase() === 'https://') i = 8;
  else return undefined;
  let end = i;
  while (end < url.length) {
    const c = url.charCodeAt(end);
    if (c === 0x2f /* / */ || c === 0x3f /* ? */ || c === 0x23 /* # */) break;
    end++;
  }
  const authority = url.slice(i, end);
  if (authority === '' || authority.indexOf('@') !== -1) return undefined;
  // A fragment is not part of a request; the parser lets it through, the upstream need not see it.
  const hash = url.indexOf('#', end);
  const rest = hash === -1 ? url.slice(end) : url.slice(end, hash);
  const path = rest === '' ? '/' : rest.charCodeAt(0) === 0x2f ? rest : '/' + rest;
  return { authority, path };
}
