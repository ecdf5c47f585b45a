// Custom domains and the certificates that serve them (`summon domains`, `summon certs`).

/** A hostname an app owns: unique across all apps (core/domains.ts has the rules). */
export interface Domain {
  host: string;
  app: string;
  createdAt: number;
}

/** A certificate an app serves, uploaded (`certs:add`) or obtained over ACME. */
export interface StoredCert {
  app: string;
  /** sha256 of the leaf's DER, hex: one certificate once per app. */
  id: string;
  /** The leaf's DNS names (subjectAltName), lower case. */
  hosts: string[];
  /** Leaf first, then its chain, PEM. */
  certPem: string;
  /** The private key, encrypted as config vars are (control/secrets.ts); never stored in clear. */
  keyCipher: string;
  issuer: string;
  subject: string;
  notBefore: number;
  notAfter: number;
  source: 'upload' | 'acme';
  createdAt: number;
}
