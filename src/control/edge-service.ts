// The one place the edge state (router/edge-types.ts) is assembled and sent: the custom domains
// apps own and the certificates that serve them (from the store, keys decrypted here), the ACME
// HTTP-01 answers in flight (in memory: they live for the minutes an order takes), and each
// app's HTTPS policy (its live release's `[http]`). Every change sends the whole state to every
// data plane (`setEdge`: the embedded Router, the data plane process's client, HAProxy's).
//
// Changes come through here: domains:add/remove, certs:add/remove (api/routes/domains.ts), an
// ACME order (setChallenge/clearChallenge, then addCert with source 'acme'), a release going
// live (its policy), an app destroyed. They are applied one at a time, in order.
import { checkCertificate, MAX_CERTS_PER_APP, type CheckedCert } from '../core/certs.js';
import { checkDomain, MAX_DOMAINS_PER_APP } from '../core/domains.js';
import { ConflictError, InvalidInputError, NotFoundError } from '../core/errors.js';
import { httpPolicyOf } from '../core/manifest.js';
import type { SummonEvent } from '../core/types.js';
import type { Logger } from '../logging/logger.js';
import { silentLogger } from '../logging/logger.js';
import type { EdgeAppPolicy, EdgeCert, EdgeState } from '../router/edge-types.js';
import type { Domain, Store, StoredCert } from '../store/store.js';
import type { Secrets } from './secrets.js';

/** A data plane that is told the edge state (Router, DataPlaneClient, the HAProxy data plane). */
export interface EdgeTarget {
  setEdge(edge: EdgeState): void;
}

/** Most ACME answers kept at once (each is one order's authorization, cleared when it ends). */
export const MAX_CHALLENGES = 1000;
const TOKEN_RE = /^[A-Za-z0-9_-]{1,256}$/;

export interface EdgeServiceOptions {
  store: Store;
  secrets: Secrets;
  targets: EdgeTarget[];
  /** The domains apps are served at as NAME.D (localhost, --domain): not custom domains. */
  served: readonly string[];
  now: () => number;
  logger?: Logger;
}

export class EdgeService {
  private state: EdgeState = { domains: {}, certs: [], challenges: {}, policies: {} };
  private readonly challenges = new Map<string, string>();
  private chain: Promise<unknown> = Promise.resolve();
  private readonly log: Logger;
  private readonly targets: EdgeTarget[];

  constructor(private readonly o: EdgeServiceOptions) {
    this.log = o.logger ?? silentLogger();
    this.targets = [...o.targets];
  }

  /** Reads everything from the store and sends it (on every start: a data plane adopted from a
   *  previous run is told the state again). */
  start(): Promise<EdgeState> {
    return this.serial(async () => {
      const policies: Record<string, EdgeAppPolicy> = {};
      for (const app of await this.o.store.listApps()) {
        const p = await this.policyOf(app.name, app.liveVersion);
        if (p) policies[app.name] = p;
      }
      this.state = { ...this.state, policies };
      await this.reload();
      return this.state;
    });
  }

  /** Another data plane (HAProxy) to keep told; it is sent the current state at once. */
  addTarget(t: EdgeTarget): void {
    this.targets.push(t);
    t.setEdge(this.state);
  }

  current(): EdgeState {
    return this.state;
  }

  /** For the event bus: a release going live changes its app's policy; a destroyed app goes. */
  onEvent = (e: SummonEvent): void => {
    if (e.type === 'release.live' && e.app) {
      const app = e.app;
      void this.serial(async () => {
        const a = await this.o.store.getApp(app);
        const p = a ? await this.policyOf(app, a.liveVersion) : null;
        const policies = { ...this.state.policies };
        if (p) policies[app] = p;
        else delete policies[app];
        this.state = { ...this.state, policies };
        this.push();
      }).catch((err: unknown) => this.log.warn({ err, app }, 'edge policy not updated'));
    } else if (e.type === 'app.destroyed') {
      const app = typeof e.data.app === 'string' ? e.data.app : null;
      void this.serial(async () => {
        if (app) {
          const policies = { ...this.state.policies };
          delete policies[app];
          this.state = { ...this.state, policies };
        }
        await this.reload();
      }).catch((err: unknown) => this.log.warn({ err, app }, 'edge state not updated after an app was destroyed'));
    }
  };

  // ── domains ───────────────────────────────────────────────────────────────

  /** Checks and adds `raw` to `app`; ConflictError (details.owner) when another app owns it. */
  async addDomain(app: string, raw: unknown): Promise<Domain> {
    const host = checkDomain(raw, this.o.served);
    return this.serial(async () => {
      const mine = await this.o.store.listDomains(app);
      if (mine.some((d) => d.host === host)) throw new ConflictError(`${app} already has the domain ${host}: see \`summon domains -a ${app}\``, { host, owner: app });
      if (mine.length >= MAX_DOMAINS_PER_APP) {
        throw new ConflictError(`${app} has ${MAX_DOMAINS_PER_APP} domains, the most an app may have: remove one first (\`summon domains:remove -a ${app} HOST\`)`);
      }
      const d: Domain = { host, app, createdAt: this.o.now() };
      await this.o.store.addDomain(d);
      await this.reload();
      return d;
    });
  }

  removeDomain(app: string, raw: string): Promise<Domain> {
    const host = normalise(raw);
    return this.serial(async () => {
      const d = (await this.o.store.listDomains(app)).find((x) => x.host === host);
      if (!d || !(await this.o.store.deleteDomain(app, host))) throw new NotFoundError('domain', host, `${app}'s domains are listed by \`summon domains -a ${app}\``);
      await this.reload();
      return d;
    });
  }

  // ── certificates ──────────────────────────────────────────────────────────

  /** Checks a certificate and its key against the app's domains, stores it (key encrypted) and
   *  serves it. `source` is 'acme' for one obtained by an ACME order. */
  addCert(app: string, certPem: string, keyPem: string, source: StoredCert['source'] = 'upload'): Promise<{ stored: StoredCert; checked: CheckedCert }> {
    return this.serial(async () => {
      const domains = (await this.o.store.listDomains(app)).map((d) => d.host);
      const checked = checkCertificate(certPem, keyPem, domains, this.o.now());
      const certs = await this.o.store.listCerts(app);
      if (certs.length >= MAX_CERTS_PER_APP && !certs.some((c) => c.id === checked.id)) {
        throw new ConflictError(`${app} has ${MAX_CERTS_PER_APP} certificates, the most an app may have: remove one first (\`summon certs -a ${app}\`, \`summon certs:remove -a ${app} ID\`)`);
      }
      const stored: StoredCert = {
        app, id: checked.id, hosts: checked.hosts, certPem: checked.certPem, keyCipher: this.o.secrets.encrypt({ key: checked.keyPem }),
        issuer: checked.issuer, subject: checked.subject, notBefore: checked.notBefore, notAfter: checked.notAfter, source, createdAt: this.o.now(),
      };
      await this.o.store.putCert(stored);
      await this.reload();
      return { stored, checked };
    });
  }

  /** Removes the app's certificate whose id is `idOrPrefix` (or starts with it: 8 characters at least). */
  removeCert(app: string, idOrPrefix: string): Promise<StoredCert> {
    return this.serial(async () => {
      const c = findCert(await this.o.store.listCerts(app), app, idOrPrefix);
      await this.o.store.deleteCert(app, c.id);
      await this.reload();
      return c;
    });
  }

  // ── ACME HTTP-01 answers (for certs:auto) ─────────────────────────────────

  /** Answers GET /.well-known/acme-challenge/TOKEN with `keyAuthorization` on every data plane. */
  setChallenge(token: string, keyAuthorization: string): void {
    if (!TOKEN_RE.test(token)) throw new InvalidInputError(`an ACME token is base64url, got ${JSON.stringify(token.slice(0, 40))}`);
    if (!this.challenges.has(token) && this.challenges.size >= MAX_CHALLENGES) throw new ConflictError(`${MAX_CHALLENGES} ACME challenges are in flight already`);
    this.challenges.set(token, keyAuthorization);
    this.state = { ...this.state, challenges: Object.fromEntries(this.challenges) };
    this.push();
  }

  clearChallenge(token: string): void {
    if (!this.challenges.delete(token)) return;
    this.state = { ...this.state, challenges: Object.fromEntries(this.challenges) };
    this.push();
  }

  // ── inside ────────────────────────────────────────────────────────────────

  /** Domains and certificates again from the store, then sent. Run inside serial(). */
  private async reload(): Promise<void> {
    const domains: Record<string, string> = {};
    for (const d of await this.o.store.listDomains()) domains[d.host] = d.app;
    const certs: EdgeCert[] = [];
    for (const c of await this.o.store.listCerts()) {
      let keyPem: string;
      try {
        keyPem = this.o.secrets.decrypt(c.keyCipher).key ?? '';
      } catch (err) {
        // A key sealed under another master key: the rest still serve.
        this.log.warn({ err, app: c.app, cert: c.id }, 'a certificate\'s key does not decrypt with this master key: not served');
        continue;
      }
      certs.push({ id: c.id, app: c.app, hosts: c.hosts, certPem: c.certPem, keyPem, notAfter: new Date(c.notAfter).toISOString() });
    }
    this.state = { ...this.state, domains, certs };
    this.push();
  }

  private push(): void {
    for (const t of this.targets) {
      try {
        t.setEdge(this.state);
      } catch (err) {
        this.log.warn({ err }, 'a data plane refused the edge state');
      }
    }
  }

  private async policyOf(app: string, version: number | null): Promise<EdgeAppPolicy | null> {
    if (version === null) return null;
    const r = await this.o.store.getRelease(app, version);
    if (!r?.manifest) return null;
    const p = httpPolicyOf(r.manifest);
    return p.forceHttps || p.hstsMaxAge !== null ? p : null;
  }

  private serial<T>(f: () => Promise<T>): Promise<T> {
    const p = this.chain.then(f);
    this.chain = p.catch(() => undefined);
    return p;
  }
}

/** A domain as given to domains:remove: lower-cased, without the trailing dot. */
function normalise(raw: string): string {
  const h = String(raw).trim().toLowerCase();
  return h.endsWith('.') ? h.slice(0, -1) : h;
}

export function findCert(certs: StoredCert[], app: string, idOrPrefix: string): StoredCert {
  const want = String(idOrPrefix).trim().toLowerCase();
  if (!/^[0-9a-f]{8,64}$/.test(want)) {
    throw new InvalidInputError(`a certificate is named by its id (hex, the first 8 characters or more, as \`summon certs -a ${app}\` shows), got ${JSON.stringify(idOrPrefix)}`);
  }
  const found = certs.filter((c) => c.id.startsWith(want));
  if (found.length === 0) throw new NotFoundError('certificate', want, `${app}'s certificates are listed by \`summon certs -a ${app}\``);
  if (found.length > 1) throw new InvalidInputError(`${want} is the start of ${found.length} of ${app}'s certificates: give more of the id`);
  return found[0];
}
