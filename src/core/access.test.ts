import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkEmail, checkTokenGrant, may, parseExpiry, reaches, ROUTE_RULES, ruleFor, type Grant } from './access.js';

const admin: Grant = { scope: 'admin', role: 'admin', tokenApp: null, apps: 'all' };
const deployA: Grant = { scope: 'deploy', role: 'admin', tokenApp: 'a', apps: 'all' };
const readAll: Grant = { scope: 'read', role: 'admin', tokenApp: null, apps: 'all' };
const metrics: Grant = { scope: 'metrics', role: 'admin', tokenApp: null, apps: 'all' };
const member: Grant = { scope: 'deploy', role: 'member', tokenApp: null, apps: new Set(['a']) };
const memberAdminScope: Grant = { scope: 'admin', role: 'member', tokenApp: null, apps: new Set(['a']) };

const ok = (g: Grant, method: string, route: string, app: string | null = null) => may(g, method, route, app).ok;
const why = (g: Grant, method: string, route: string, app: string | null = null) => {
  const d = may(g, method, route, app);
  assert.equal(d.ok, false, `${method} ${route} should be refused`);
  return (d as { message: string }).message;
};

describe('may: scopes', () => {
  test('admin may do everything, public routes need nothing', () => {
    for (const r of ROUTE_RULES) assert.ok(ok(admin, r.method, r.route, r.route.includes(':app') ? 'a' : null), `${r.method} ${r.route}`);
    assert.ok(ok(metrics, 'GET', '/healthz'));
  });

  test('read: GETs of its apps, never secrets, never a change', () => {
    assert.ok(ok(readAll, 'GET', '/api/apps'));
    assert.ok(ok(readAll, 'GET', '/api/apps/:app/releases', 'b'));
    assert.ok(ok(readAll, 'HEAD', '/api/apps/:app', 'b'), 'HEAD is GET');
    assert.ok(ok(readAll, 'GET', '/git/:app.git/info/refs?service=git-upload-pack', 'b'), 'read may clone');
    assert.match(why(readAll, 'GET', '/api/apps/:app/config', 'b'), /read token does not see secrets/);
    assert.match(why(readAll, 'GET', '/api/apps/:app/drains', 'b'), /secrets/);
    assert.match(why(readAll, 'GET', '/api/apps/:app/image', 'b'), /secrets/);
    assert.match(why(readAll, 'PATCH', '/api/apps/:app/config', 'b'), /read token can only read.*deploy token/);
    assert.match(why(readAll, 'POST', '/api/apps/:app/rollback', 'b'), /can only read/);
    assert.match(why(readAll, 'POST', '/git/:app.git/git-receive-pack', 'b'), /can only read/);
    assert.match(why(readAll, 'GET', '/git/:app.git/info/refs?service=git-receive-pack', 'b'), /can only read: GET \/git\/:app\.git\/info\/refs needs/);
    assert.match(why(readAll, 'GET', '/metrics'), /metrics or admin token/);
  });

  test('deploy for one app: push, deploy, roll back, config and read it; nothing of another app, nothing global', () => {
    for (const [m, r] of [['POST', '/git/:app.git/git-receive-pack'], ['POST', '/api/apps/:app/rollback'], ['PATCH', '/api/apps/:app/config'],
      ['GET', '/api/apps/:app/config'], ['POST', '/api/apps/:app/scale'], ['GET', '/api/apps/:app/logs']] as const) {
      assert.ok(ok(deployA, m, r, 'a'), `${m} ${r}`);
      assert.match(why(deployA, m, r, 'b'), /this token is for app a only, not b/);
    }
    assert.match(why(deployA, 'POST', '/api/tokens'), /needs an admin token/);
    assert.match(why(deployA, 'GET', '/api/tokens'), /needs an admin token/);
    assert.match(why(deployA, 'POST', '/api/users'), /admin token/);
    assert.match(why(deployA, 'GET', '/api/hosts'), /admin token/);
    assert.match(why(deployA, 'POST', '/api/apps'), /admin token/);
    assert.match(why(deployA, 'DELETE', '/api/apps/:app', 'a'), /admin token/, 'destroying an app is an admin\'s');
    assert.match(why(deployA, 'POST', '/api/apps/:app/access', 'a'), /admin token/);
    assert.match(why(deployA, 'GET', '/metrics'), /metrics or admin/);
  });

  test('metrics: /metrics only', () => {
    assert.ok(ok(metrics, 'GET', '/metrics'));
    assert.ok(ok(metrics, 'GET', '/api/whoami'), 'any token may ask who it is');
    assert.match(why(metrics, 'GET', '/api/apps'), /metrics token can only scrape GET \/metrics, not GET \/api\/apps/);
    assert.match(why(metrics, 'GET', '/api/apps/:app', 'a'), /only scrape/);
    assert.match(why(metrics, 'GET', '/git/:app.git/info/refs?service=git-upload-pack', 'a'), /only scrape/);
  });

  test('members reach only the apps they were given, whatever the scope', () => {
    assert.ok(ok(member, 'PATCH', '/api/apps/:app/config', 'a'));
    assert.match(why(member, 'GET', '/api/apps/:app', 'b'), /no access to app b.*access:add -a b/);
    assert.match(why(memberAdminScope, 'POST', '/api/users'), /admin token/, 'an admin scope on a member is not an admin');
    assert.match(why(memberAdminScope, 'GET', '/metrics'), /metrics or admin/);
    assert.match(why(memberAdminScope, 'GET', '/api/apps/:app/config', 'b'), /no access/);
  });

  test('a route not in the table needs an admin token (closed by default)', () => {
    assert.deepEqual(ruleFor('POST', '/api/new-thing'), { method: 'POST', route: '/api/new-thing', need: 'admin', action: 'POST /api/new-thing' });
    assert.match(why(deployA, 'GET', '/api/new-thing'), /admin token/);
    assert.ok(ok(admin, 'GET', '/api/new-thing'));
  });

  test('every change has a named action for the audit log; no read has one (git fetches POST)', () => {
    for (const r of ROUTE_RULES) {
      if (r.method === 'GET' || r.need === 'read') assert.equal(r.action, undefined, r.route);
      else assert.match(r.action ?? '', /^[a-z]+\.[a-z]+$/, `${r.method} ${r.route}`);
    }
  });
});

describe('reaches: what listings show', () => {
  test('by token app, user access and scope; Summon-wide events only to an all-apps view', () => {
    assert.ok(reaches(admin, 'x') && reaches(admin, null));
    assert.ok(reaches(deployA, 'a') && !reaches(deployA, 'b') && !reaches(deployA, null));
    assert.ok(reaches(member, 'a') && !reaches(member, 'b') && !reaches(member, null));
    assert.ok(!reaches(metrics, 'a'));
  });
});

describe('token grants, emails and expiry', () => {
  test('checkTokenGrant', () => {
    assert.equal(checkTokenGrant('admin', 'admin', null), null);
    assert.equal(checkTokenGrant('member', 'deploy', 'a'), null);
    assert.match(checkTokenGrant('member', 'admin', null) ?? '', /only an admin user/);
    assert.match(checkTokenGrant('admin', 'admin', 'a') ?? '', /--scope deploy/);
    assert.match(checkTokenGrant('admin', 'metrics', 'a') ?? '', /no --app/);
    assert.match(checkTokenGrant('member', 'metrics', null) ?? '', /only an admin/);
  });
  test('checkEmail lower-cases and refuses what is not an address', () => {
    assert.equal(checkEmail(' Ada@Example.COM '), 'ada@example.com');
    assert.equal(checkEmail('admin@localhost'), 'admin@localhost');
    for (const bad of ['ada', 'a b@x.com', 'a@', '<a@x.com>', 'a@x..com', 'a@-x.com', 42]) assert.ok(typeof checkEmail(bad) === 'object', String(bad));
  });
  test('parseExpiry', () => {
    assert.equal(parseExpiry('90d'), 90 * 86_400_000);
    assert.equal(parseExpiry('12h'), 12 * 3_600_000);
    assert.equal(parseExpiry('1s'), 1000);
    assert.equal(parseExpiry('never'), null);
    for (const bad of ['0s', '3651d', '1w', '-1d', '1.5d', '']) assert.match((parseExpiry(bad) as { error: string }).error, /--expires must be/, bad);
  });
});
