// Who is asking: the API token of a request (Bearer; HTTP Basic only where git clients need
// it), looked up by its sha256 and compared in constant time, checked for revocation and
// expiry, and turned into the Grant that core/access.ts decides on. Failures count against
// the client's address (auth-limiter.ts); a blocked address gets 429 before any check.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Grant } from '../core/access.js';
import { RateLimitedError, UnauthorizedError } from '../core/errors.js';
import type { ApiToken, Store, User } from '../store/store.js';
import type { AuthLimiter } from './auth-limiter.js';

export const TOKEN_PREFIX = 'sk_';

/** A new API token: 256 random bits. Shown once; only its hash is kept. */
export function newToken(): string {
  return `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** What a listing shows of a token: enough to recognise it, far too little to use it. */
export function tokenPrefix(token: string): string {
  return token.slice(0, TOKEN_PREFIX.length + 4);
}

/** Two secrets, compared as sha256 digests in constant time (no length or prefix leaks). */
export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

/** Whether two hex sha256 digests are equal, in constant time. */
export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === 32 && y.length === 32 && timingSafeEqual(x, y);
}

export type Credential = { kind: 'bearer' | 'basic'; secret: string } | { kind: 'none' } | { kind: 'other'; scheme: string };

export function credentialOf(req: IncomingMessage): Credential {
  const h = req.headers.authorization;
  if (!h) return { kind: 'none' };
  const sp = h.indexOf(' ');
  const scheme = (sp === -1 ? h : h.slice(0, sp)).toLowerCase();
  const rest = sp === -1 ? '' : h.slice(sp + 1).trim();
  if (scheme === 'bearer' && rest) return { kind: 'bearer', secret: rest };
  if (scheme === 'basic' && rest) {
    const decoded = Buffer.from(rest, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    return i >= 0 ? { kind: 'basic', secret: decoded.slice(i + 1) } : { kind: 'other', scheme };
  }
  return { kind: 'other', scheme };
}

export function bearerOf(req: IncomingMessage): string | null {
  const c = credentialOf(req);
  return c.kind === 'bearer' ? c.secret : null;
}

/** The client's address as the API sees it (Summon trusts no forwarding header here). */
export function clientAddress(req: IncomingMessage): string {
  return forwardedFor.get(req) ?? req.socket.remoteAddress ?? 'unknown';
}

/** A request another control-plane node forwarded (cluster/wiring.ts, its proof checked): the
 *  client's own address, for the failed-authentication limit and the audit log. */
export const forwardedFor = new WeakMap<IncomingMessage, string>();

export interface Principal {
  user: User;
  token: ApiToken;
  grant: Grant;
}

const TOUCH_EVERY_MS = 60_000;

export class Authenticator {
  private readonly touched = new Map<string, number>();

  constructor(private readonly o: { store: Store; limiter: AuthLimiter; now: () => number; onTouchFailed?: (err: unknown) => void }) {}

  /** Throws RateLimitedError when the address is blocked, before anything else is looked at. */
  checkAddress(req: IncomingMessage): void {
    const wait = this.o.limiter.retryAfter(clientAddress(req));
    if (wait > 0) {
      throw new RateLimitedError(`too many failed authentications from ${clientAddress(req)}: no token is checked from there for ${wait} s (Retry-After); check the token you use (\`summon auth:token\`)`, wait);
    }
  }

  /** A failed check of some secret (an agent's, a push hook's) from this request's address. */
  failed(req: IncomingMessage): void {
    this.o.limiter.failed(clientAddress(req));
  }

  /**
   * The principal of `req`, or UnauthorizedError saying what to do. `basic`: HTTP Basic (any
   * user name, the token as password) is accepted too — only git's endpoint passes it.
   */
  async authenticate(req: IncomingMessage, opts: { basic?: boolean } = {}): Promise<Principal> {
    this.checkAddress(req);
    const c = credentialOf(req);
    if (c.kind === 'none') throw new UnauthorizedError('missing token: pass "Authorization: Bearer TOKEN" (`summon auth:token` prints yours)');
    if (c.kind === 'other') throw new UnauthorizedError(`"Authorization: ${c.scheme}" is not accepted: pass "Authorization: Bearer TOKEN"`);
    if (c.kind === 'basic' && !opts.basic) {
      throw new UnauthorizedError('HTTP Basic is accepted on /git/ only: pass "Authorization: Bearer TOKEN" to the API');
    }
    const hash = hashToken(c.secret);
    const found = await this.o.store.findTokenByHash(hash);
    // Looked up by its hash; the stored hash is compared again in constant time all the same.
    if (!found || !sameHash(found.token.hash, hash)) {
      this.failed(req);
      throw new UnauthorizedError('this token is not valid: use one `summon tokens:create --scope deploy` made (or `summon auth:token` prints), with no spaces or quotes around it');
    }
    const { token, user } = found;
    const now = this.o.now();
    const label = `token ${token.id} (${token.name})`;
    if (token.revokedAt !== null) {
      this.failed(req);
      throw new UnauthorizedError(`${label} was revoked at ${new Date(token.revokedAt).toISOString()}: ask an admin for a new one (\`summon tokens:create --scope deploy\`)`);
    }
    if (token.expiresAt !== null && token.expiresAt <= now) {
      this.failed(req);
      throw new UnauthorizedError(`${label} expired at ${new Date(token.expiresAt).toISOString()}: ask an admin for a new one (\`summon tokens:create --scope deploy --expires 90d\`)`);
    }
    const apps = user.role === 'admin' ? 'all' as const : new Set((await this.o.store.listAccess({ userId: user.id })).map((g) => g.app));
    this.touch(token, now);
    return { user, token, grant: { scope: token.scope, role: user.role, tokenApp: token.app, apps } };
  }

  /** lastUsedAt, written at most once a minute per token. */
  private touch(token: ApiToken, now: number): void {
    const last = this.touched.get(token.id) ?? token.lastUsedAt ?? 0;
    if (now - last < TOUCH_EVERY_MS) return;
    this.touched.set(token.id, now);
    if (this.touched.size > 10_000) this.touched.clear();
    this.o.store.touchToken(token.id, now).catch((err: unknown) => this.o.onTouchFailed?.(err));
  }
}
