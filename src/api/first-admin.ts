// DATA/admin.token is the first admin's token: at every start of `summon up` it is made one of
// the store's tokens (scope admin, no expiry) if it is not yet, belonging to the oldest admin
// user, or to `admin@localhost` made for it when there is none. A revoked or expired
// admin.token is replaced by a new one (written back to the file), so `summon up` always
// prints a token that works; a revoked one never works again.
import { newId } from '../core/ids.js';
import type { Store, User } from '../store/store.js';
import type { AuditLog } from './audit-log.js';
import { hashToken, newToken, tokenPrefix } from './auth.js';

export const FIRST_ADMIN_EMAIL = 'admin@localhost';
export const ADMIN_TOKEN_NAME = 'admin.token';

async function firstAdmin(store: Store, now: number): Promise<User> {
  const admin = (await store.listUsers()).find((u) => u.role === 'admin');
  if (admin) return admin;
  const user: User = { id: newId('usr'), email: FIRST_ADMIN_EMAIL, role: 'admin', createdAt: now };
  try {
    await store.addUser(user);
    return user;
  } catch (e) {
    // Another control-plane node of the same store made it first.
    const again = await store.getUser(FIRST_ADMIN_EMAIL);
    if (again) return again;
    throw e;
  }
}

/**
 * Makes `token` (read from DATA/admin.token) an admin token in the store; returns the token to
 * use, which is a new one (for the caller to write back) when `token` was revoked or expired.
 */
export async function adoptAdminToken(store: Store, token: string, now: number, audit: AuditLog): Promise<{ token: string; replaced: string | null }> {
  const found = await store.findTokenByHash(hashToken(token));
  if (found && found.token.revokedAt === null && (found.token.expiresAt === null || found.token.expiresAt > now) && found.user.role === 'admin' && found.token.scope === 'admin') {
    return { token, replaced: null };
  }
  const replaced = found
    ? `${ADMIN_TOKEN_NAME} (${found.token.id}) was ${found.token.revokedAt !== null ? 'revoked' : found.token.expiresAt !== null && found.token.expiresAt <= now ? 'expired' : 'not an admin token'}: a new one was written`
    : null;
  const use = found ? newToken() : token;
  const user = await firstAdmin(store, now);
  const id = newId('tok');
  await store.addToken({
    id, userId: user.id, name: ADMIN_TOKEN_NAME, scope: 'admin', app: null, hash: hashToken(use), prefix: tokenPrefix(use),
    createdAt: now, createdBy: 'summon', expiresAt: null, revokedAt: null, lastUsedAt: null,
  });
  await audit.record({
    at: now, actor: 'summon', tokenId: id, tokenName: ADMIN_TOKEN_NAME, address: null, method: null, route: null, app: null,
    action: 'token.bootstrap', outcome: 'ok', status: null, detail: { user: user.email, ...(replaced ? { replaced } : {}) },
  });
  return { token: use, replaced };
}
