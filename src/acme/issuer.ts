// One certificate order over ACME (RFC 8555) with acme-client: an account (its key kept by the
// caller, encrypted), a fresh P-256 key and CSR for the names, HTTP-01 for every name (the
// answer handed to `setChallenge`, which puts it in the edge state the data planes answer
// /.well-known/acme-challenge/TOKEN from, and taken back with `clearChallenge` whatever happens).
import https from 'node:https';
import { X509Certificate } from 'node:crypto';
import { rootCertificates } from 'node:tls';
import acme from 'acme-client';

/** Let's Encrypt's production directory: the default of `summon up --acme-directory`. */
export const LETS_ENCRYPT_DIRECTORY = acme.directory.letsencrypt.production;

export interface IssueOptions {
  directoryUrl: string;
  /** The ACME account's private key (PEM); see newAccountKey(). */
  accountKeyPem: string;
  /** The operator's contact address, given to the CA with the account (expiry notices). */
  email?: string;
  /** PEM of a CA to trust for the ACME server's own HTTPS (a test CA such as pebble's), beside
   *  the system's. */
  ca?: string;
  /** The DNS names, lower case; the first is the certificate's common name. */
  hosts: string[];
  setChallenge(token: string, keyAuthorization: string): Promise<void>;
  clearChallenge(token: string): Promise<void>;
  /** Each step, in words (the CLI shows them). */
  onProgress?: (message: string) => void;
  /** Attempts of each ACME request on 5xx or rate limit (acme-client's backoff); default 3. */
  requestAttempts?: number;
}

export interface IssuedCert {
  hosts: string[];
  /** The leaf first, then its chain. */
  certPem: string;
  keyPem: string;
  notBefore: string;
  notAfter: string;
  issuer: string;
}

export async function newAccountKey(): Promise<string> {
  return (await acme.crypto.createPrivateEcdsaKey('P-256')).toString('utf8');
}

// acme-client makes its requests through one axios instance of its own; a CA to trust is set
// on it (one per process: `summon up` has one --acme-directory).
let trustedCa: string | undefined;
function trust(ca: string | undefined): void {
  if (ca === trustedCa) return;
  trustedCa = ca;
  acme.axios.defaults.httpsAgent = ca ? new https.Agent({ ca: [ca, ...rootCertificates], keepAlive: false }) : undefined;
}


/** What an ACME failure says, in one line (acme-client's errors carry the CA's problem detail). */
export function acmeErrorMessage(e: unknown): string {
  const err = e as { message?: string; response?: { data?: { detail?: string; type?: string } } };
  const detail = err.response?.data?.detail;
  const msg = detail ? `${detail}${err.response?.data?.type ? ` (${err.response.data.type})` : ''}` : (err.message ?? String(e));
  return msg.replace(/\s+/g, ' ').trim();
}

export async function issueCertificate(o: IssueOptions): Promise<IssuedCert> {
  if (o.hosts.length === 0) throw new Error('no names to ask a certificate for');
  trust(o.ca);
  const say = o.onProgress ?? (() => undefined);
  const client = new acme.Client({
    directoryUrl: o.directoryUrl,
    accountKey: o.accountKeyPem,
    backoffAttempts: o.requestAttempts ?? 3,
    backoffMin: 1000,
    backoffMax: 10_000,
  });
  const keyPem = (await acme.crypto.createPrivateEcdsaKey('P-256')).toString('utf8');
  const [, csr] = await acme.crypto.createCsr({ commonName: o.hosts[0], altNames: o.hosts }, keyPem);
  say(`asking ${o.directoryUrl} for a certificate for ${o.hosts.join(', ')}`);
  const live = new Set<string>();
  let certPem: string;
  try {
    certPem = await client.auto({
      csr,
      ...(o.email ? { email: o.email } : {}),
      termsOfServiceAgreed: true,
      challengePriority: ['http-01'],
      // The CA's validation is the test that counts: a self-check from this host fails behind
      // NAT or split DNS where the CA's succeeds.
      skipChallengeVerification: true,
      challengeCreateFn: async (authz, challenge, keyAuthorization) => {
        if (challenge.type !== 'http-01') throw new Error(`${authz.identifier.value}: only HTTP-01 is answered here, the CA offered ${challenge.type}`);
        live.add(challenge.token);
        await o.setChallenge(challenge.token, keyAuthorization);
        say(`${authz.identifier.value}: answering HTTP-01 at http://${authz.identifier.value}/.well-known/acme-challenge/${challenge.token}`);
      },
      challengeRemoveFn: async (authz, challenge) => {
        live.delete(challenge.token);
        await o.clearChallenge(challenge.token);
        say(`${authz.identifier.value}: validated`);
      },
    });
  } finally {
    for (const t of live) await o.clearChallenge(t).catch(() => undefined);
  }
  const leaf = new X509Certificate(certPem);
  say(`issued by ${leaf.issuer.replace(/\n/g, ', ')}, valid until ${new Date(leaf.validTo).toISOString()}`);
  return {
    hosts: o.hosts,
    certPem,
    keyPem,
    notBefore: new Date(leaf.validFrom).toISOString(),
    notAfter: new Date(leaf.validTo).toISOString(),
    issuer: leaf.issuer.replace(/\n/g, ', '),
  };
}
