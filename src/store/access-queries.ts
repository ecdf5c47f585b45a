// The store's queries for users, access grants, tokens and the audit log, shared by both
// dialects (KyselyStore delegates here). As in kysely-store.ts, no transaction reads before
// its first write.
import { sql, type Kysely } from 'kysely';
import { ConflictError, InvalidInputError, NotFoundError } from '../core/errors.js';
import type { Role, Scope } from '../core/access.js';
import type { AccessGrant, ApiToken, AuditEntry, NewAuditEntry, User } from './access-types.js';
import { num, numOrNull, parseJson, toJson } from './rows.js';
import type { AuditTable, Database, TokensTable, UsersTable } from './schema.js';

type Db = Kysely<Database>;

function userFromRow(r: UsersTable): User {
  return { id: r.id, email: r.email, role: r.role as Role, createdAt: num(r.created_at) };
}

function tokenFromRow(r: TokensTable): ApiToken {
  return {
    id: r.id, userId: r.user_id, name: r.name, scope: r.scope as Scope, app: r.app, hash: r.hash, prefix: r.prefix,
    createdAt: num(r.created_at), createdBy: r.created_by,
    expiresAt: numOrNull(r.expires_at), revokedAt: numOrNull(r.revoked_at), lastUsedAt: numOrNull(r.last_used_at),
  };
}

function auditFromRow(r: Omit<AuditTable, 'id'> & { id: number | string }): AuditEntry {
  return {
    id: num(r.id), at: num(r.at), actor: r.actor, tokenId: r.token_id, tokenName: r.token_name, address: r.address,
    method: r.method, route: r.route, app: r.app, action: r.action, outcome: r.outcome as AuditEntry['outcome'],
    status: r.status, detail: parseJson<Record<string, unknown>>(r.detail),
  };
}

// ---- users

export async function addUser(db: Db, u: User): Promise<void> {
  const added = await db
    .insertInto('users')
    .values({ id: u.id, email: u.email, role: u.role, created_at: u.createdAt })
    .onConflict((oc) => oc.doNothing())
    .returning('id')
    .executeTakeFirst();
  if (!added) throw new ConflictError(`a user with email ${u.email} (or id ${u.id}) exists: see \`summon users\``, { email: u.email });
}

export async function getUser(db: Db, email: string): Promise<User | undefined> {
  const r = await db.selectFrom('users').selectAll().where('email', '=', email.toLowerCase()).executeTakeFirst();
  return r ? userFromRow(r) : undefined;
}

export async function listUsers(db: Db): Promise<User[]> {
  return (await db.selectFrom('users').selectAll().orderBy('created_at').orderBy('id').execute()).map(userFromRow);
}

export async function deleteUser(db: Db, id: string): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx.deleteFrom('tokens').where('user_id', '=', id).execute();
    await trx.deleteFrom('app_access').where('user_id', '=', id).execute();
    await trx.deleteFrom('users').where('id', '=', id).execute();
  });
}

// ---- access

export async function grantAccess(db: Db, app: string, userId: string, now: number): Promise<void> {
  let added: { app: string } | undefined;
  try {
    added = await db
      .insertInto('app_access')
      .values({ app, user_id: userId, created_at: now })
      .onConflict((oc) => oc.columns(['app', 'user_id']).doNothing())
      .returning('app')
      .executeTakeFirst();
  } catch (e) {
    // A foreign key: the app or the user is missing (looked up only now, after the failed write).
    const hasApp = await db.selectFrom('apps').select('name').where('name', '=', app).executeTakeFirst().then(Boolean, () => true);
    if (!hasApp) throw new NotFoundError('app', app, 'see `summon apps`');
    const hasUser = await db.selectFrom('users').select('id').where('id', '=', userId).executeTakeFirst().then(Boolean, () => true);
    if (!hasUser) throw new NotFoundError('user', userId, 'see `summon users`');
    throw e;
  }
  if (!added) throw new ConflictError(`that user already has access to ${app}: see \`summon access -a ${app}\``, { app, userId });
}

export async function revokeAccess(db: Db, app: string, userId: string): Promise<boolean> {
  const r = await db.deleteFrom('app_access').where('app', '=', app).where('user_id', '=', userId).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

export async function listAccess(db: Db, filter: { app?: string; userId?: string }): Promise<AccessGrant[]> {
  let q = db
    .selectFrom('app_access')
    .innerJoin('users', 'users.id', 'app_access.user_id')
    .select(['app_access.app as app', 'app_access.user_id as user_id', 'users.email as email', 'app_access.created_at as created_at']);
  if (filter.app !== undefined) q = q.where('app_access.app', '=', filter.app);
  if (filter.userId !== undefined) q = q.where('app_access.user_id', '=', filter.userId);
  const rows = await q.orderBy('app_access.created_at').orderBy('app_access.app').orderBy('users.email').execute();
  return rows.map((r) => ({ app: r.app, userId: r.user_id, email: r.email, createdAt: num(r.created_at) }));
}

// ---- tokens

export async function addToken(db: Db, t: ApiToken): Promise<void> {
  let added: { id: string } | undefined;
  try {
    added = await db
      .insertInto('tokens')
      .values({
        id: t.id, user_id: t.userId, name: t.name, scope: t.scope, app: t.app, hash: t.hash, prefix: t.prefix,
        created_at: t.createdAt, created_by: t.createdBy, expires_at: t.expiresAt, revoked_at: t.revokedAt, last_used_at: t.lastUsedAt,
      })
      .onConflict((oc) => oc.doNothing())
      .returning('id')
      .executeTakeFirst();
  } catch (e) {
    const hasUser = await db.selectFrom('users').select('id').where('id', '=', t.userId).executeTakeFirst().then(Boolean, () => true);
    if (!hasUser) throw new NotFoundError('user', t.userId, 'see `summon users`');
    throw e;
  }
  if (!added) throw new ConflictError(`a token with id ${t.id} or the same hash exists`, { id: t.id });
}

export async function findTokenByHash(db: Db, hash: string): Promise<{ token: ApiToken; user: User } | undefined> {
  if (!/^[0-9a-f]{64}$/.test(hash)) throw new InvalidInputError('a token hash is 64 hex characters (sha256)');
  const r = await db
    .selectFrom('tokens')
    .innerJoin('users', 'users.id', 'tokens.user_id')
    .selectAll('tokens')
    .select(['users.email as u_email', 'users.role as u_role', 'users.created_at as u_created_at'])
    .where('tokens.hash', '=', hash)
    .executeTakeFirst();
  if (!r) return undefined;
  const { u_email, u_role, u_created_at, ...t } = r;
  return { token: tokenFromRow(t), user: userFromRow({ id: t.user_id, email: u_email, role: u_role, created_at: u_created_at }) };
}

export async function getToken(db: Db, id: string): Promise<ApiToken | undefined> {
  const r = await db.selectFrom('tokens').selectAll().where('id', '=', id).executeTakeFirst();
  return r ? tokenFromRow(r) : undefined;
}

export async function listTokens(db: Db, filter: { userId?: string } = {}): Promise<ApiToken[]> {
  let q = db.selectFrom('tokens').selectAll();
  if (filter.userId !== undefined) q = q.where('user_id', '=', filter.userId);
  return (await q.orderBy('created_at').orderBy('id').execute()).map(tokenFromRow);
}

export async function revokeToken(db: Db, id: string, now: number): Promise<ApiToken> {
  const r = await db
    .updateTable('tokens')
    .set({ revoked_at: sql<number>`coalesce(revoked_at, ${now})` })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
  if (!r) throw new NotFoundError('token', id, 'see `summon tokens`');
  return tokenFromRow(r);
}

export async function touchToken(db: Db, id: string, now: number): Promise<void> {
  await db.updateTable('tokens').set({ last_used_at: now }).where('id', '=', id).execute();
}

// ---- audit

export async function appendAudit(db: Db, e: NewAuditEntry): Promise<AuditEntry> {
  const r = await db
    .insertInto('audit')
    .values({
      at: e.at, actor: e.actor, token_id: e.tokenId, token_name: e.tokenName, address: e.address, method: e.method,
      route: e.route, app: e.app, action: e.action, outcome: e.outcome, status: e.status, detail: toJson(e.detail ?? {}),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { ...e, detail: e.detail ?? {}, id: num(r.id) };
}

export async function listAudit(db: Db, filter: { app?: string; afterId?: number; limit?: number }): Promise<AuditEntry[]> {
  const { app, afterId, limit } = filter ?? {};
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) {
    throw new InvalidInputError(`audit limit must be a non-negative integer, got ${String(limit)}`);
  }
  if (afterId !== undefined && !Number.isFinite(afterId)) throw new InvalidInputError(`audit afterId must be a number, got ${String(afterId)}`);
  if (limit === 0) return [];
  let q = db.selectFrom('audit').selectAll();
  if (app !== undefined) q = q.where('app', '=', app);
  if (afterId !== undefined) q = q.where('id', '>', afterId);
  if (limit === undefined) return (await q.orderBy('id', 'asc').execute()).map(auditFromRow);
  return (await q.orderBy('id', 'desc').limit(limit).execute()).reverse().map(auditFromRow);
}
