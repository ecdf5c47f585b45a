// The audit log: every change through the API or git (not reads), with who (user and token),
// what (method, route, app and a named action), when, from which address, and the outcome.
// Entries are written when the response is over, so the outcome is the real one; a streamed
// operation (rollback, config, restart, push) notes its result first (note()).
import type { IncomingMessage } from 'node:http';
import type { Logger } from '../logging/logger.js';
import type { AuditEntry, NewAuditEntry, Store } from '../store/store.js';
import type { Principal } from './auth.js';

export interface AuditNote {
  /** The operation ran and did not do what was asked (a failed rollout, a refused push). */
  failed?: boolean;
  detail?: Record<string, unknown>;
  /** The app the change is about, where the route does not name it (apps:create, tokens:create --app). */
  app?: string;
}

/** What a change's body says that is worth keeping: names, counts, ids — never secret values. */
export function auditDetail(action: string, body: unknown, params: Record<string, string>): Record<string, unknown> {
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const keys = (v: unknown) => (typeof v === 'object' && v !== null && !Array.isArray(v) ? Object.keys(v).sort() : undefined);
  const list = (v: unknown) => (Array.isArray(v) ? v.filter((x) => typeof x === 'string') : undefined);
  const pick = (...names: string[]) => Object.fromEntries(names.filter((n) => b[n] !== undefined).map((n) => [n, b[n]]));
  switch (action) {
    case 'config.set': return { set: keys(b.set) ?? [], unset: list(b.unset) ?? [] };
    case 'ps.scale': return pick('count');
    case 'ps.autoscale': return pick('min', 'max', 'targetCpu', 'idleTimeout');
    case 'release.rollback': return pick('version');
    case 'webhook.add': return pick('events');
    case 'webhook.remove': case 'drain.remove': return { id: params.id };
    case 'domain.add': return pick('host');
    case 'domain.remove': return { host: params.host };
    case 'cert.remove': return { id: params.id };
    case 'user.add': return pick('email', 'role');
    case 'user.remove': case 'access.remove': return { email: params.email };
    case 'access.add': return pick('email');
    case 'token.create': return pick('scope', 'app', 'expires', 'name', 'user');
    case 'token.revoke': return { id: params.id };
    case 'host.credential': return { host: params.host };
    default: return {};
  }
}

export class AuditLog {
  private readonly notes = new WeakMap<IncomingMessage, AuditNote>();

  constructor(private readonly o: { store: Store; now: () => number; logger: Logger }) {}

  /** Adds to what the entry of `req` will say (merged; the last `failed` wins). */
  note(req: IncomingMessage, n: AuditNote): void {
    const cur = this.notes.get(req) ?? {};
    this.notes.set(req, { failed: n.failed ?? cur.failed, detail: { ...cur.detail, ...n.detail }, app: n.app ?? cur.app });
  }

  /** Records the change `req` asks for once its response is over. */
  onFinish(req: IncomingMessage, res: { once(ev: 'close', f: () => void): unknown; statusCode: number }, e: {
    principal: Principal; address: string; method: string; route: string; app: string | null; action: string; detail: Record<string, unknown>;
  }): void {
    res.once('close', () => {
      const n = this.notes.get(req) ?? {};
      const status = res.statusCode;
      const outcome = status === 403 ? 'denied' : status >= 400 || n.failed ? 'failed' : 'ok';
      void this.record({
        at: this.o.now(), actor: e.principal.user.email, tokenId: e.principal.token.id, tokenName: e.principal.token.name,
        address: e.address, method: e.method, route: e.route, app: e.app ?? n.app ?? null, action: e.action, outcome, status,
        detail: { ...e.detail, ...n.detail },
      });
    });
  }

  /** Writes one entry; a store that fails is a warn line, never the request's failure. */
  async record(entry: NewAuditEntry): Promise<AuditEntry | null> {
    try {
      return await this.o.store.appendAudit(entry);
    } catch (err) {
      this.o.logger.warn({ err, audit: entry }, 'audit entry not stored');
      return null;
    }
  }
}
