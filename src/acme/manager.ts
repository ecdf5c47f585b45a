// `summon certs:auto`: certificates for an app's custom domains over ACME, obtained when it is
// turned on and renewed ahead of expiry by one loop for every app (renewal.ts has the rule and
// the backoff). Orders run one at a time. Each outcome is an event (cert.issued, cert.renewed,
// cert.failed), so failures reach `summon events`, webhooks and email like any other.
//
// Kept in DATA/acme/ (0700): state.json, which apps have it on and how their last order went;
// account-*.json, the ACME account key per directory URL, encrypted with the master key as
// config vars are.
import { createHash, X509Certificate } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidInputError, NotFoundError } from '../core/errors.js';
import { formatDuration } from '../core/units.js';
import type { Logger } from '../logging/logger.js';
import { silentLogger } from '../logging/logger.js';
import { acmeErrorMessage, issueCertificate, newAccountKey, type IssueOptions } from './issuer.js';
import { bestCert, nextOrder, renewAt, retryDelayMs, RETRY_BASE_MS, RETRY_MAX_MS, type CertSummary } from './renewal.js';

/** What the manager needs of the edge (control/edge-service.ts): the answers and the result. */
export interface AcmeEdge {
  setChallenge(token: string, keyAuthorization: string): void;
  clearChallenge(token: string): void;
  addCert(app: string, certPem: string, keyPem: string, source: 'acme'): Promise<unknown>;
}

/** What it reads of the store: the app, its domains and its certificates. */
export interface AcmeStore {
  getApp(name: string): Promise<unknown>;
  listDomains(app: string): Promise<{ host: string }[]>;
  listCerts(app: string): Promise<(CertSummary & { source: string; id: string })[]>;
}

export interface AcmeSettings {
  /** `--acme-directory` (default Let's Encrypt's production directory). */
  directoryUrl: string;
  /** `--acme-email`: the operator's contact address for the account. */
  email?: string;
  /** `--acme-ca FILE`'s PEM: trusted for the ACME server's own HTTPS (a test CA). */
  ca?: string;
  /** Backoff of failed orders (tests shorten it). */
  retryBaseMs?: number;
  retryMaxMs?: number;
}

export interface AcmeManagerOptions extends AcmeSettings {
  dataDir: string;
  encrypt: (vars: Record<string, string>) => string;
  decrypt: (cipher: string) => Record<string, string>;
  store: AcmeStore;
  edge: AcmeEdge;
  emit: (app: string, type: string, message: string, data: Record<string, unknown>) => void;
  now?: () => number;
  logger?: Logger;
  /** The longest the loop sleeps before it looks again (default 1 h: domains added meanwhile
   *  are seen within it; certs:auto and a failure reschedule at once). */
  maxSleepMs?: number;
}

export interface AppAcmeState {
  enabledAt: number;
  failures: number;
  lastFailureAt: number | null;
  lastError: string | null;
  lastIssuedAt: number | null;
}

export interface AcmeStatus {
  app: string;
  enabled: boolean;
  directoryUrl: string;
  domains: string[];
  /** The ACME certificate serving them, if one does. */
  cert: { id: string; notAfter: number; renewAt: number } | null;
  /** When the next order is due (epoch ms), null when none is (off, or no domain). */
  nextOrderAt: number | null;
  failures: number;
  lastError: string | null;
}

export type OrderResult = { ok: true; renewed: boolean; id: string; hosts: string[]; notAfter: string; issuer: string } | { ok: false; message: string };

const STATE_VERSION = 1;

export class AcmeManager {
  private apps = new Map<string, AppAcmeState>();
  private timer: NodeJS.Timeout | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly dir: string;
  private readonly now: () => number;
  private readonly log: Logger;

  constructor(private readonly o: AcmeManagerOptions) {
    this.dir = join(o.dataDir, 'acme');
    this.now = o.now ?? Date.now;
    this.log = o.logger ?? silentLogger();
  }

  /** Reads the state and starts the loop. */
  async start(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    try {
      const raw = JSON.parse(await readFile(join(this.dir, 'state.json'), 'utf8')) as { version?: number; apps?: Record<string, AppAcmeState> };
      this.apps = new Map(Object.entries(raw.apps ?? {}));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn({ err: e }, 'DATA/acme/state.json not read: certs:auto starts with no app');
    }
    this.schedule(0);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.chain.catch(() => undefined);
  }

  /** Turns certs:auto on for `app` and runs its order now if one is due (or `force`). */
  async enable(app: string, onLine: (l: string) => void = () => undefined): Promise<{ result: OrderResult | null; status: AcmeStatus }> {
    if (!(await this.o.store.getApp(app))) throw new NotFoundError('app', app, 'see `summon apps`');
    const domains = (await this.o.store.listDomains(app)).map((d) => d.host);
    if (domains.length === 0) {
      throw new InvalidInputError(`${app} has no custom domain to get a certificate for: add one with \`summon domains:add -a ${app} HOST\` (its DNS pointing at this host), then run certs:auto again`);
    }
    const wildcards = domains.filter((d) => d.startsWith('*.'));
    if (wildcards.length) {
      throw new InvalidInputError(`${wildcards.join(', ')}: a wildcard needs a DNS-01 challenge, and certs:auto answers HTTP-01 only: upload a wildcard certificate with \`summon certs:add\` instead, or remove the wildcard domain`);
    }
    // In the loop's turn, so its order and this one never overlap.
    const result = await this.serial(async () => {
      const existing = this.apps.get(app);
      // Turned on again: a failure streak starts over (the operator has presumably fixed DNS).
      this.apps.set(app, { enabledAt: existing?.enabledAt ?? this.now(), failures: 0, lastFailureAt: null, lastError: null, lastIssuedAt: existing?.lastIssuedAt ?? null });
      await this.save();
      const st = await this.status(app);
      if (st.nextOrderAt !== null && st.nextOrderAt > this.now() && st.cert) {
        onLine(`${app}: its certificate for ${domains.join(', ')} is valid until ${new Date(st.cert.notAfter).toISOString()}; it is renewed from ${new Date(st.cert.renewAt).toISOString()}`);
        return null;
      }
      return this.order(app, onLine);
    });
    this.schedule(0);
    return { result, status: await this.status(app) };
  }

  /** Turns it off: no more orders or renewals; certificates already obtained keep serving
   *  until they expire or are removed (`certs:remove`). */
  async disable(app: string): Promise<AcmeStatus> {
    if (!this.apps.delete(app)) {
      throw new NotFoundError('certs:auto', app, `certs:auto is not on for ${app}: \`summon certs:auto -a ${app}\` turns it on`);
    }
    await this.save();
    this.schedule(0);
    return this.status(app);
  }

  /** An app destroyed: forgotten. */
  async forget(app: string): Promise<void> {
    if (this.apps.delete(app)) await this.save();
  }

  async status(app: string): Promise<AcmeStatus> {
    const st = this.apps.get(app);
    const domains = (await this.o.store.listDomains(app)).map((d) => d.host);
    const certs = (await this.o.store.listCerts(app)).filter((c) => c.source === 'acme');
    const now = this.now();
    const best = bestCert(certs, domains, now);
    const due = st ? nextOrder({ domains, certs, failure: st.failures ? { failures: st.failures, at: st.lastFailureAt ?? now } : null, now }) : null;
    return {
      app, enabled: st !== undefined, directoryUrl: this.o.directoryUrl, domains,
      cert: best ? { id: best.id, notAfter: best.notAfter, renewAt: renewAt(best) } : null,
      nextOrderAt: due && due.kind === 'order' ? due.at : null,
      failures: st?.failures ?? 0, lastError: st?.lastError ?? null,
    };
  }

  enabledApps(): string[] {
    return [...this.apps.keys()];
  }

  // ── the loop ──────────────────────────────────────────────────────────────

  /** Wakes the loop after `ms` (or sooner if it is already due). */
  private schedule(ms: number): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), Math.max(0, ms));
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    this.timer = null;
    let sleep = this.o.maxSleepMs ?? 3_600_000;
    try {
      await this.serial(async () => {
        for (const app of [...this.apps.keys()]) {
          if (this.closed) return;
          const st = await this.status(app).catch(() => null);
          if (!st || st.nextOrderAt === null) continue;
          const wait = st.nextOrderAt - this.now();
          if (wait > 0) {
            sleep = Math.min(sleep, wait);
            continue;
          }
          await this.order(app, (l) => this.log.info({ app }, l));
          const after = await this.status(app).catch(() => null);
          if (after?.nextOrderAt != null) sleep = Math.min(sleep, Math.max(0, after.nextOrderAt - this.now()));
        }
      });
    } catch (err) {
      this.log.warn({ err }, 'the certs:auto loop failed a round; it goes on');
    }
    // Node fires a timer past ~24.8 days at once: never sleep that long.
    this.schedule(Math.min(sleep, 7 * 86_400_000));
  }

  /** One order for `app`'s domains; the outcome is stored, emitted and returned. */
  private async order(app: string, onLine: (l: string) => void): Promise<OrderResult> {
    const st = this.apps.get(app);
    if (!st) return { ok: false, message: `certs:auto is not on for ${app}` };
    const domains = (await this.o.store.listDomains(app)).map((d) => d.host);
    const had = bestCert((await this.o.store.listCerts(app)).filter((c) => c.source === 'acme'), domains, this.now());
    try {
      if (domains.length === 0) throw new Error(`${app} has no custom domain any more`);
      const accountKeyPem = await this.accountKey();
      const opts: IssueOptions = {
        directoryUrl: this.o.directoryUrl, accountKeyPem, hosts: domains,
        ...(this.o.email ? { email: this.o.email } : {}),
        ...(this.o.ca ? { ca: this.o.ca } : {}),
        setChallenge: async (token, keyAuth) => this.o.edge.setChallenge(token, keyAuth),
        clearChallenge: async (token) => this.o.edge.clearChallenge(token),
        onProgress: onLine,
      };
      const cert = await issueCertificate(opts);
      await this.o.edge.addCert(app, cert.certPem, cert.keyPem, 'acme');
      const id = createHash('sha256').update(new X509Certificate(cert.certPem).raw).digest('hex');
      const cur = this.apps.get(app);
      if (cur) this.apps.set(app, { ...cur, failures: 0, lastFailureAt: null, lastError: null, lastIssuedAt: this.now() });
      await this.save();
      const type = had ? 'cert.renewed' : 'cert.issued';
      const message = `${had ? 'renewed the' : 'obtained a'} certificate for ${domains.join(', ')} from ${this.o.directoryUrl}, valid until ${cert.notAfter}`;
      this.o.emit(app, type, message, { cert: id, hosts: domains, notAfter: cert.notAfter, issuer: cert.issuer, ...(had ? { replaces: had.id } : {}) });
      onLine(`${app}: ${message}; served now`);
      return { ok: true, renewed: had !== undefined, id, hosts: domains, notAfter: cert.notAfter, issuer: cert.issuer };
    } catch (e) {
      const reason = acmeErrorMessage(e);
      const cur = this.apps.get(app);
      const failures = (cur?.failures ?? 0) + 1;
      if (cur) this.apps.set(app, { ...cur, failures, lastFailureAt: this.now(), lastError: reason });
      await this.save().catch((err: unknown) => this.log.warn({ err }, 'DATA/acme/state.json not written'));
      const retryMs = retryDelayMs(failures, this.o.retryBaseMs ?? RETRY_BASE_MS, this.o.retryMaxMs ?? RETRY_MAX_MS);
      const expires = had ? ` The certificate serving now expires ${new Date(had.notAfter).toISOString()}.` : '';
      const message = `no certificate for ${domains.join(', ') || app}: ${reason}. Tried ${failures} time(s); next in ${formatDuration(retryMs)}.${expires} ` +
        `Check that each domain's DNS points at this host and that port 80 reaches Summon's router.`;
      this.o.emit(app, 'cert.failed', message, { hosts: domains, failures, retryInMs: retryMs, reason, directory: this.o.directoryUrl, ...(had ? { expiresAt: new Date(had.notAfter).toISOString() } : {}) });
      onLine(`${app}: ${message}`);
      return { ok: false, message };
    }
  }

  /** The account key for this directory, made and stored (encrypted) on first use. */
  private async accountKey(): Promise<string> {
    const file = join(this.dir, `account-${createHash('sha256').update(this.o.directoryUrl).digest('hex').slice(0, 16)}.json`);
    try {
      const raw = JSON.parse(await readFile(file, 'utf8')) as { directoryUrl: string; keyCipher: string };
      const key = this.o.decrypt(raw.keyCipher).key;
      if (key) return key;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`the ACME account key in ${file} cannot be read (${(e as Error).message}): move it away to make a new account`);
    }
    const key = await newAccountKey();
    await writeFile(file, `${JSON.stringify({ directoryUrl: this.o.directoryUrl, keyCipher: this.o.encrypt({ key }) })}\n`, { mode: 0o600 });
    return key;
  }

  private async save(): Promise<void> {
    const file = join(this.dir, 'state.json');
    const tmp = `${file}.tmp`;
    await writeFile(tmp, `${JSON.stringify({ version: STATE_VERSION, apps: Object.fromEntries(this.apps) }, null, 1)}\n`, { mode: 0o600 });
    await rename(tmp, file);
  }

  private serial<T>(f: () => Promise<T>): Promise<T> {
    const p = this.chain.then(f);
    this.chain = p.catch(() => undefined);
    return p;
  }
}
