// The Store contract for users, access grants, tokens and the audit log (migration
// 0003-access), run by each backend's test file beside runStoreContract.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConflictError, NotFoundError } from '../core/errors.js';
import type { ApiToken, NewAuditEntry, User } from './access-types.js';
import { rejectsWith, type StoreSubject } from './store.contract.js';

const T0 = 1_700_000_000_123;
const HASH = (c: string) => c.repeat(64).slice(0, 64);

const user = (over: Partial<User> = {}): User => ({ id: 'usr-1', email: 'ada@example.com', role: 'admin', createdAt: T0, ...over });

const token = (over: Partial<ApiToken> = {}): ApiToken => ({
  id: 'tok-1', userId: 'usr-1', name: 'ci', scope: 'deploy', app: 'web', hash: HASH('a'), prefix: 'sk_Ab',
  createdAt: T0, createdBy: 'ada@example.com', expiresAt: T0 + 90 * 86_400_000, revokedAt: null, lastUsedAt: null, ...over,
});

const audit = (over: Partial<NewAuditEntry> = {}): NewAuditEntry => ({
  at: T0, actor: 'ada@example.com', tokenId: 'tok-1', tokenName: 'ci', address: '127.0.0.1', method: 'PATCH',
  route: '/api/apps/:app/config', app: 'web', action: 'config.set', outcome: 'ok', status: 200,
  detail: { set: ['A', 'B'], note: 'quoted "é"' }, ...over,
});

export function runAccessContract(name: string, open: () => Promise<StoreSubject>): void {
  const withStore = async (f: (s: StoreSubject['store'], subject: StoreSubject) => Promise<void>) => {
    const subject = await open();
    try {
      await f(subject.store, subject);
    } finally {
      await subject.cleanup();
    }
  };

  describe(`Store contract (access): ${name}`, () => {
    test('users: add, get by email (any case), list oldest first, one email once', () =>
      withStore(async (s) => {
        await s.addUser(user());
        await s.addUser(user({ id: 'usr-2', email: 'bob@example.com', role: 'member', createdAt: T0 + 1 }));
        assert.deepEqual(await s.getUser('ADA@example.com'), user());
        assert.equal(await s.getUser('nobody@example.com'), undefined);
        assert.deepEqual((await s.listUsers()).map((u) => [u.email, u.role]), [['ada@example.com', 'admin'], ['bob@example.com', 'member']]);
        const dup = await rejectsWith(s.addUser(user({ id: 'usr-3' })), ConflictError, 'conflict');
        assert.match(dup.message, /ada@example\.com/);
      }));

    test('access: grant, list by app and by user with the email, once per pair, revoke; missing app or user is NotFound', () =>
      withStore(async (s) => {
        await s.createApp('web', T0);
        await s.createApp('api', T0);
        await s.addUser(user({ id: 'usr-2', email: 'bob@example.com', role: 'member' }));
        await s.grantAccess('web', 'usr-2', T0 + 5);
        await s.grantAccess('api', 'usr-2', T0 + 6);
        assert.deepEqual(await s.listAccess({ app: 'web' }), [{ app: 'web', userId: 'usr-2', email: 'bob@example.com', createdAt: T0 + 5 }]);
        assert.deepEqual((await s.listAccess({ userId: 'usr-2' })).map((g) => g.app), ['web', 'api']);
        await rejectsWith(s.grantAccess('web', 'usr-2', T0), ConflictError, 'conflict');
        await rejectsWith(s.grantAccess('ghost', 'usr-2', T0), NotFoundError, 'not_found');
        await rejectsWith(s.grantAccess('web', 'usr-ghost', T0), NotFoundError, 'not_found');
        assert.equal(await s.revokeAccess('web', 'usr-2'), true);
        assert.equal(await s.revokeAccess('web', 'usr-2'), false);
        assert.deepEqual((await s.listAccess({ userId: 'usr-2' })).map((g) => g.app), ['api']);
      }));

    test('tokens: stored by hash, found with their user, listed, revoked once, touched', () =>
      withStore(async (s) => {
        await s.addUser(user());
        const t = token();
        await s.addToken(t);
        await s.addToken(token({ id: 'tok-2', hash: HASH('b'), scope: 'admin', app: null, expiresAt: null, createdAt: T0 + 1 }));
        const found = await s.findTokenByHash(HASH('a'));
        assert.deepEqual(found, { token: t, user: user() });
        assert.equal(await s.findTokenByHash(HASH('c')), undefined);
        await assert.rejects(s.findTokenByHash('not-hex'), /64 hex/);
        assert.deepEqual((await s.listTokens()).map((x) => x.id), ['tok-1', 'tok-2']);
        assert.deepEqual((await s.listTokens({ userId: 'usr-ghost' })), []);
        await rejectsWith(s.addToken(token({ id: 'tok-3' })), ConflictError, 'conflict'); // same hash
        await rejectsWith(s.addToken(token({ id: 'tok-4', hash: HASH('d'), userId: 'usr-ghost' })), NotFoundError, 'not_found');
        const revoked = await s.revokeToken('tok-1', T0 + 100);
        assert.equal(revoked.revokedAt, T0 + 100);
        assert.equal((await s.revokeToken('tok-1', T0 + 200)).revokedAt, T0 + 100, 'revoked once: the first time stays');
        assert.equal((await s.findTokenByHash(HASH('a')))?.token.revokedAt, T0 + 100, 'a revoked token is still found (to say it was revoked)');
        await rejectsWith(s.revokeToken('tok-ghost', T0), NotFoundError, 'not_found');
        await s.touchToken('tok-2', T0 + 300);
        assert.equal((await s.getToken('tok-2'))?.lastUsedAt, T0 + 300);
        assert.equal(await s.getToken('tok-ghost'), undefined);
      }));

    test('deleteUser removes the user, their tokens and grants, nothing of others', () =>
      withStore(async (s) => {
        await s.createApp('web', T0);
        await s.addUser(user());
        await s.addUser(user({ id: 'usr-2', email: 'bob@example.com', role: 'member' }));
        await s.addToken(token());
        await s.addToken(token({ id: 'tok-2', userId: 'usr-2', hash: HASH('b') }));
        await s.grantAccess('web', 'usr-1', T0);
        await s.grantAccess('web', 'usr-2', T0);
        await s.deleteUser('usr-2');
        assert.deepEqual((await s.listUsers()).map((u) => u.id), ['usr-1']);
        assert.deepEqual((await s.listTokens()).map((t) => t.id), ['tok-1']);
        assert.deepEqual((await s.listAccess({ app: 'web' })).map((g) => g.userId), ['usr-1']);
        assert.equal(await s.findTokenByHash(HASH('b')), undefined);
      }));

    test('deleteApp removes its grants and the tokens for it, keeps other tokens and its audit entries', () =>
      withStore(async (s) => {
        await s.createApp('web', T0);
        await s.createApp('api', T0);
        await s.addUser(user());
        await s.addToken(token());
        await s.addToken(token({ id: 'tok-2', hash: HASH('b'), app: 'api' }));
        await s.addToken(token({ id: 'tok-3', hash: HASH('c'), app: null }));
        await s.grantAccess('web', 'usr-1', T0);
        await s.grantAccess('api', 'usr-1', T0);
        await s.appendAudit(audit());
        await s.deleteApp('web');
        assert.deepEqual((await s.listTokens()).map((t) => t.id), ['tok-2', 'tok-3']);
        assert.deepEqual((await s.listAccess({ userId: 'usr-1' })).map((g) => g.app), ['api']);
        await s.createApp('web', T0 + 1);
        assert.deepEqual(await s.listAccess({ app: 'web' }), [], 'a new app of the same name starts with no grants');
        assert.equal((await s.listAudit({ app: 'web' })).length, 1, 'the audit log outlives the app');
      }));

    test('audit: growing ids, every field round-trips, oldest first, filters by app, pages and limits', () =>
      withStore(async (s) => {
        const a = await s.appendAudit(audit());
        const b = await s.appendAudit(audit({ app: null, route: null, method: null, action: 'token.bootstrap', actor: 'summon', tokenId: null, tokenName: null, address: null, status: null, outcome: 'ok', detail: {}, at: T0 + 1 }));
        const c = await s.appendAudit(audit({ app: 'api', outcome: 'denied', status: 403, at: T0 + 2 }));
        assert.ok(a.id < b.id && b.id < c.id);
        const all = await s.listAudit({});
        assert.deepEqual(all, [a, b, c]);
        assert.deepEqual(all[0], { id: a.id, ...audit() });
        assert.deepEqual((await s.listAudit({ app: 'web' })).map((e) => e.id), [a.id]);
        assert.deepEqual((await s.listAudit({ afterId: a.id })).map((e) => e.id), [b.id, c.id]);
        assert.deepEqual((await s.listAudit({ limit: 2 })).map((e) => e.id), [b.id, c.id], 'limit keeps the newest');
        assert.deepEqual(await s.listAudit({ limit: 0 }), []);
        await assert.rejects(s.listAudit({ limit: -1 }), /non-negative/);
      }));

    test('reopening keeps users, grants, tokens and the audit log', async (t) => {
      const subject = await open();
      try {
        if (!subject.reopen) return t.skip('this backend cannot reopen');
        const s = subject.store;
        await s.createApp('web', T0);
        await s.addUser(user());
        await s.addToken(token());
        await s.grantAccess('web', 'usr-1', T0);
        await s.appendAudit(audit());
        await s.close();
        const r = await subject.reopen();
        assert.deepEqual(await r.listUsers(), [user()]);
        assert.deepEqual(await r.listTokens(), [token()]);
        assert.equal((await r.listAccess({ app: 'web' })).length, 1);
        assert.equal((await r.listAudit({})).length, 1);
      } finally {
        await subject.cleanup();
      }
    });
  });
}
