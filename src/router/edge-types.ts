// What the control plane tells a data plane about the edge beyond instances: the custom domains
// apps own, the certificates that serve them, the ACME HTTP-01 answers in flight, and each app's
// HTTPS policy. It travels whole (one object, replaced on every change), so a data plane that
// was away or restarted is current after one message: `{t:'edge', seq, edge}` on the data-plane
// socket (answered with an ack like a route), `Router.setEdge(edge)` in process, and the same
// object applied to HAProxy's runtime API by the HAProxy data plane.

/** A certificate an app serves (uploaded with `certs:add` or obtained by `certs:auto`). */
export interface EdgeCert {
  /** Stable id (the sha256 of the leaf certificate's DER, hex). */
  id: string;
  app: string;
  /** The DNS names (SANs, wildcards as `*.example.com`) it covers, lower case. */
  hosts: string[];
  /** The leaf first, then its chain, PEM. */
  certPem: string;
  /** The private key, PEM (decrypted by the control plane; never stored in clear outside DATA). */
  keyPem: string;
  /** ISO 8601. */
  notAfter: string;
}

/** `[http]` of the app's live release (summon.toml). */
export interface EdgeAppPolicy {
  /** `force_https = true`: plain HTTP requests are answered 308 to the https:// URL. */
  forceHttps: boolean;
  /** `hsts_max_age = N` (seconds): Strict-Transport-Security on HTTPS answers; null: none. */
  hstsMaxAge: number | null;
}

export interface EdgeState {
  /** Custom domain (lower case, no port) → the app that owns it. */
  domains: Record<string, string>;
  certs: EdgeCert[];
  /** ACME HTTP-01: token → key authorization, answered at /.well-known/acme-challenge/TOKEN for any host. */
  challenges: Record<string, string>;
  /** App → its policy; an app not named has the default (no redirect, no HSTS). */
  policies: Record<string, EdgeAppPolicy>;
}

export const EMPTY_EDGE: EdgeState = Object.freeze({ domains: {}, certs: [], challenges: {}, policies: {} }) as EdgeState;

export const DEFAULT_POLICY: EdgeAppPolicy = Object.freeze({ forceHttps: false, hstsMaxAge: null });
