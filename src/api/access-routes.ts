// API routes for who may do what: users, per-app access, tokens, the audit log, the caller's
// own identity, and hosts' credentials. Who may call each is in core/access.ts (ROUTE_RULES);
// the gate (guard.ts) has decided before a handler runs.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { checkEmail, checkTokenGrant, parseExpiry, ROLES, SCOPES, TOKEN_NAME_RE } from '../core/access.js';
import { ConflictError, InvalidInputError, NotFoundError, SummonError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { checkAppName, checkHostId } from '../core/names.js';
import type { ApiToken, AuditEntry, Store, User } from '../store/store.js';
import { hostCredential } from '../agent/host-credential.js';
import { hashToken, newToken, tokenPrefix } from './auth.js';
import { parseBody } from './bodies.js';
import { principalOf } from './guard.js';

export const userBody = z.strictObject({ email: z.string(), role: z.enum(ROLES).optional() });
export const accessBody = z.strictObject({ email: z.string() });
export const tokenBody = z.strictObject({
  scope: z.enum(SCOPES),
  app: z.union([z.string(), z.null()]).optional(),
  /** "90d", "12h", "never" (the default). */
  expires: z.string().optional(),
  name: z.string().optional(),
  /** The user's email (default: the caller). */
  user: z.string().optional(),
});

export type UserView = User & { apps: string[] };
export type AccessView = { email: string; role: User['role']; via: 'grant' | 'admin'; createdAt: number };
export type TokenState = 'active' | 'expired' | 'revoked';
export type TokenView = Omit<ApiToken, 'hash'> & { user: string; state: TokenState };
/** The answer to POST /api/tokens: the token itself, shown this once. */
export type CreatedToken = TokenView & { token: string };
export interface WhoAmI {
  user: { id: string; email: string; role: User['role'] };
  token: { id: string; name: string; scope: ApiToken['scope']; app: string | null; expiresAt: number | null };
  /** The apps this token reaches: their names, or "all". */
  apps: string[] | 'all';
}
export type { AuditEntry };

const email = (v: unknown): string => {
  const e = checkEmail(v);
  if (typeof e !== 'string') throw new InvalidInputError(e.error);
  return e;
};

export function registerAccessRoutes(fastify: FastifyInstance, d: { store: Store; now: () => number; agentSecret?: string }): void {
  const userOf = async (address: string): Promise<User> => {
    const u = await d.store.getUser(email(address));
    if (!u) throw new NotFoundError('user', address, 'see `summon users`, or add them with `summon users:add EMAIL`');
    return u;
  };
  const requireApp = async (name: string): Promise<string> => {
    checkAppName(name);
    if (!(await d.store.getApp(name))) throw new NotFoundError('app', name, 'see `summon apps`');
    return name;
  };
  const tokenView = (t: ApiToken, users: Map<string, User>): TokenView => {
    const { hash: _hash, ...rest } = t;
    const state: TokenState = t.revokedAt !== null ? 'revoked' : t.expiresAt !== null && t.expiresAt <= d.now() ? 'expired' : 'active';
    return { ...rest, user: users.get(t.userId)?.email ?? t.userId, state };
  };
  const usersById = async () => new Map((await d.store.listUsers()).map((u) => [u.id, u]));

  fastify.get('/api/whoami', async (req): Promise<WhoAmI> => {
    const { user, token, grant } = principalOf(req);
    const apps = grant.apps === 'all' ? (token.app ? [token.app] : 'all') : [...grant.apps].filter((a) => !token.app || a === token.app).sort();
    return {
      user: { id: user.id, email: user.email, role: user.role },
      token: { id: token.id, name: token.name, scope: token.scope, app: token.app, expiresAt: token.expiresAt },
      apps: token.scope === 'metrics' ? [] : apps,
    };
  });

  // ---- users
  fastify.get('/api/users', async (): Promise<UserView[]> => {
    const out: UserView[] = [];
    for (const u of await d.store.listUsers()) out.push({ ...u, apps: (await d.store.listAccess({ userId: u.id })).map((g) => g.app) });
    return out;
  });
  fastify.post('/api/users', async (req, reply) => {
    const b = parseBody(userBody, req.body, 'POST /api/users');
    const user: User = { id: newId('usr'), email: email(b.email), role: b.role ?? 'member', createdAt: d.now() };
    await d.store.addUser(user);
    return reply.status(201).send({ ...user, apps: [] } satisfies UserView);
  });
  fastify.delete('/api/users/:email', async (req) => {
    const u = await userOf((req.params as { email: string }).email);
    if (u.role === 'admin' && (await d.store.listUsers()).filter((x) => x.role === 'admin').length === 1) {
      throw new ConflictError(`${u.email} is the last admin: add another (\`summon users:add EMAIL --role admin\`) before removing this one`);
    }
    await d.store.deleteUser(u.id);
    return { ok: true, email: u.email };
  });

  // ---- per-app access
  fastify.get('/api/apps/:app/access', async (req): Promise<AccessView[]> => {
    const app = await requireApp((req.params as { app: string }).app);
    const users = await usersById();
    const admins: AccessView[] = [...users.values()].filter((u) => u.role === 'admin').map((u) => ({ email: u.email, role: u.role, via: 'admin', createdAt: u.createdAt }));
    const grants: AccessView[] = (await d.store.listAccess({ app })).map((g) => ({ email: g.email, role: users.get(g.userId)?.role ?? 'member', via: 'grant', createdAt: g.createdAt }));
    return [...admins, ...grants];
  });
  fastify.post('/api/apps/:app/access', async (req, reply) => {
    const app = await requireApp((req.params as { app: string }).app);
    const u = await userOf(parseBody(accessBody, req.body, 'access').email);
    if (u.role === 'admin') throw new ConflictError(`${u.email} is an admin: admins reach every app already`);
    await d.store.grantAccess(app, u.id, d.now());
    return reply.status(201).send({ email: u.email, role: u.role, via: 'grant', createdAt: d.now() } satisfies AccessView);
  });
  fastify.delete('/api/apps/:app/access/:email', async (req) => {
    const p = req.params as { app: string; email: string };
    const app = await requireApp(p.app);
    const u = await userOf(p.email);
    if (!(await d.store.revokeAccess(app, u.id))) throw new NotFoundError('access of', u.email, `to ${app}: see \`summon access -a ${app}\``);
    return { ok: true };
  });

  // ---- tokens
  fastify.get('/api/tokens', async (req): Promise<TokenView[]> => {
    const q = req.query as { user?: string };
    const users = await usersById();
    const userId = q.user ? (await userOf(q.user)).id : undefined;
    return (await d.store.listTokens(userId ? { userId } : {})).map((t) => tokenView(t, users));
  });
  fastify.post('/api/tokens', async (req, reply) => {
    const b = parseBody(tokenBody, req.body, 'POST /api/tokens');
    const caller = principalOf(req).user;
    const user = b.user ? await userOf(b.user) : caller;
    const app = b.app ? await requireApp(b.app) : null;
    const refusal = checkTokenGrant(user.role, b.scope, app);
    if (refusal) throw new InvalidInputError(refusal);
    if (app && user.role !== 'admin' && !(await d.store.listAccess({ userId: user.id })).some((g) => g.app === app)) {
      throw new ConflictError(`${user.email} has no access to ${app}: grant it first (\`summon access:add -a ${app} ${user.email}\`)`);
    }
    const ttl = b.expires === undefined ? null : parseExpiry(b.expires);
    if (ttl !== null && typeof ttl === 'object') throw new InvalidInputError(ttl.error);
    const name = b.name ?? (app ? `${b.scope}-${app}` : b.scope);
    if (!TOKEN_NAME_RE.test(name)) throw new InvalidInputError(`--name must be 1 to 64 printable ASCII characters, not starting or ending with a space, got ${JSON.stringify(name)}`);
    const secret = newToken();
    const now = d.now();
    const t: ApiToken = {
      id: newId('tok'), userId: user.id, name, scope: b.scope, app, hash: hashToken(secret), prefix: tokenPrefix(secret),
      createdAt: now, createdBy: caller.email, expiresAt: ttl === null ? null : now + ttl, revokedAt: null, lastUsedAt: null,
    };
    await d.store.addToken(t);
    const view = tokenView(t, new Map([[user.id, user]]));
    return reply.status(201).send({ ...view, token: secret } satisfies CreatedToken);
  });
  fastify.delete('/api/tokens/:id', async (req): Promise<TokenView> => {
    const id = (req.params as { id: string }).id;
    if (!(await d.store.getToken(id))) throw new NotFoundError('token', id, 'see `summon tokens`');
    return tokenView(await d.store.revokeToken(id, d.now()), await usersById());
  });

  // ---- audit
  fastify.get('/api/audit', async (req): Promise<AuditEntry[]> => {
    const q = req.query as { app?: string; limit?: string; after?: string };
    const limit = q.limit === undefined ? 200 : Number(q.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new InvalidInputError(`limit must be a whole number from 1 to 10000, got ${q.limit}`);
    const after = q.after === undefined ? undefined : Number(q.after);
    if (after !== undefined && !Number.isInteger(after)) throw new InvalidInputError(`after must be an audit entry id, got ${q.after}`);
    return d.store.listAudit({ ...(q.app ? { app: checkAppName(q.app) } : {}), limit, ...(after !== undefined ? { afterId: after } : {}) });
  });

  // ---- hosts
  fastify.post('/api/hosts/:host/credential', async (req) => {
    const host = checkHostId((req.params as { host: string }).host);
    if (!d.agentSecret) throw new SummonError('internal', 'this Summon has no agent secret (DATA/agent.token) to derive host credentials from');
    return { host, credential: hostCredential(d.agentSecret, host) };
  });
}
