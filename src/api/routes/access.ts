// API routes for who may do what: users, per-app access, tokens, the audit log, the caller's
// own identity, and hosts' credentials. Who may call each is in core/access.ts (ROUTE_RULES);
// the gate (guard.ts) has decided before a handler runs.
import type { FastifyInstance } from 'fastify';
import { checkEmail, checkTokenGrant, parseExpiry, TOKEN_NAME_RE } from '../../core/access.js';
import { ConflictError, InvalidInputError, NotFoundError, SummonError } from '../../core/errors.js';
import { newId } from '../../core/ids.js';
import { checkAppName, checkHostId } from '../../core/names.js';
import type { ApiToken, AuditEntry, Store, User } from '../../store/store.js';
import { hostCredential } from '../../agent/host-credential.js';
import { hashToken, newToken, tokenPrefix } from '../auth.js';
import { principalOf } from '../guard.js';
import { route } from '../route.js';
import type { AccessView, CreatedToken, TokenView, UserView, WhoAmI } from '../../sdk/types.js';

export type { AccessView, CreatedToken, TokenView, UserView, WhoAmI, AuditEntry };

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
    const state: TokenView['state'] = t.revokedAt !== null ? 'revoked' : t.expiresAt !== null && t.expiresAt <= d.now() ? 'expired' : 'active';
    return { ...rest, user: users.get(t.userId)?.email ?? t.userId, state };
  };
  const usersById = async () => new Map((await d.store.listUsers()).map((u) => [u.id, u]));

  route(fastify, 'whoami', async (req): Promise<WhoAmI> => {
    const { user, token, grant } = principalOf(req);
    const apps = grant.apps === 'all' ? (token.app ? [token.app] : 'all') : [...grant.apps].filter((a) => !token.app || a === token.app).sort();
    return {
      user: { id: user.id, email: user.email, role: user.role },
      token: { id: token.id, name: token.name, scope: token.scope, app: token.app, expiresAt: token.expiresAt },
      apps: token.scope === 'metrics' ? [] : apps,
    };
  });

  // ---- users
  route(fastify, 'listUsers', async (): Promise<UserView[]> => {
    const out: UserView[] = [];
    for (const u of await d.store.listUsers()) out.push({ ...u, apps: (await d.store.listAccess({ userId: u.id })).map((g) => g.app) });
    return out;
  });
  route(fastify, 'addUser', async (req, reply) => {
    const b = req.body;
    const user: User = { id: newId('usr'), email: email(b.email), role: b.role ?? 'member', createdAt: d.now() };
    await d.store.addUser(user);
    return reply.status(201).send({ ...user, apps: [] } satisfies UserView);
  });
  route(fastify, 'removeUser', async (req) => {
    const u = await userOf(req.params.email);
    if (u.role === 'admin' && (await d.store.listUsers()).filter((x) => x.role === 'admin').length === 1) {
      throw new ConflictError(`${u.email} is the last admin: add another (\`summon users:add EMAIL --role admin\`) before removing this one`);
    }
    await d.store.deleteUser(u.id);
    return { ok: true as const, email: u.email };
  });

  // ---- per-app access
  route(fastify, 'listAccess', async (req): Promise<AccessView[]> => {
    const app = await requireApp(req.params.app);
    const users = await usersById();
    const admins: AccessView[] = [...users.values()].filter((u) => u.role === 'admin').map((u) => ({ email: u.email, role: u.role, via: 'admin', createdAt: u.createdAt }));
    const grants: AccessView[] = (await d.store.listAccess({ app })).map((g) => ({ email: g.email, role: users.get(g.userId)?.role ?? 'member', via: 'grant', createdAt: g.createdAt }));
    return [...admins, ...grants];
  });
  route(fastify, 'addAccess', async (req, reply) => {
    const app = await requireApp(req.params.app);
    const u = await userOf(req.body.email);
    if (u.role === 'admin') throw new ConflictError(`${u.email} is an admin: admins reach every app already`);
    await d.store.grantAccess(app, u.id, d.now());
    return reply.status(201).send({ email: u.email, role: u.role, via: 'grant', createdAt: d.now() } satisfies AccessView);
  });
  route(fastify, 'removeAccess', async (req) => {
    const p = req.params;
    const app = await requireApp(p.app);
    const u = await userOf(p.email);
    if (!(await d.store.revokeAccess(app, u.id))) throw new NotFoundError('access of', u.email, `to ${app}: see \`summon access -a ${app}\``);
    return { ok: true as const };
  });

  // ---- tokens
  route(fastify, 'listTokens', async (req): Promise<TokenView[]> => {
    const q = req.query;
    const users = await usersById();
    const userId = q.user ? (await userOf(q.user)).id : undefined;
    return (await d.store.listTokens(userId ? { userId } : {})).map((t) => tokenView(t, users));
  });
  route(fastify, 'createToken', async (req, reply) => {
    const b = req.body;
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
  route(fastify, 'revokeToken', async (req): Promise<TokenView> => {
    const id = req.params.id;
    if (!(await d.store.getToken(id))) throw new NotFoundError('token', id, 'see `summon tokens`');
    return tokenView(await d.store.revokeToken(id, d.now()), await usersById());
  });

  // ---- audit
  route(fastify, 'audit', async (req): Promise<AuditEntry[]> => {
    const q = req.query;
    return d.store.listAudit({ ...(q.app ? { app: checkAppName(q.app) } : {}), limit: q.limit ?? 200, ...(q.after !== undefined ? { afterId: q.after } : {}) });
  });

  // ---- hosts
  route(fastify, 'hostCredential', async (req) => {
    const host = checkHostId(req.params.host);
    if (!d.agentSecret) throw new SummonError('internal', 'this Summon has no agent secret (DATA/agent.token) to derive host credentials from');
    return { host, credential: hostCredential(d.agentSecret, host) };
  });
}
