// Users, tokens, scopes and the audit log, attacked through a real Summon (`summon up`) with
// the CLI and git as a user (or an attacker holding a token) would: each token may do what
// its scope says and nothing more, expired and revoked ones are refused saying what to do,
// guessing tokens is slowed to a crawl, a leaked host credential fetches nothing of another
// host, and every change is in `summon audit` with who and from where.
import assert from 'node:assert/strict';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { cli, cliJson, editFile, exampleRepo, push, startSummonProcess, tempDir, type SummonProcess } from './harness.js';
import { waitFor } from '../../src/testing/wait.js';

interface Res {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request to the API, from `from` (another loopback address is another client). */
function call(s: SummonProcess, path: string, o: { method?: string; auth?: string; from?: string; body?: unknown } = {}): Promise<Res> {
  const u = new URL(path, s.apiUrl);
  const payload = o.body === undefined ? undefined : JSON.stringify(o.body);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: u.hostname, port: u.port, path: u.pathname + u.search, method: o.method ?? 'GET', agent: false,
      ...(o.from ? { localAddress: o.from } : {}),
      headers: { ...(o.auth ? { authorization: o.auth } : {}), ...(payload ? { 'content-type': 'application/json' } : {}) },
    }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}
const bearer = (t: string) => `Bearer ${t}`;
const basic = (t: string) => `Basic ${Buffer.from(`summon:${t}`).toString('base64')}`;
const message = (r: Res) => (JSON.parse(r.body) as { error?: { message?: string } }).error?.message ?? r.body;

interface Created { id: string; token: string; name: string; scope: string; app: string | null; user: string }
interface Audit { id: number; actor: string; tokenName: string | null; address: string | null; action: string; app: string | null; outcome: string; status: number | null; method: string | null; route: string | null; detail: Record<string, unknown> }

test('users, tokens, scopes and audit, attacked through a real Summon', async (t) => {
  const root = await tempDir('security-access');
  const dataDir = join(root, 'data');
  // The agent secret is there before the first start, so a host's credential can be printed
  // from the data directory (as an operator setting up a host would) before Summon runs.
  await mkdir(dataDir, { recursive: true });
  await writeFile(join(dataDir, 'agent.token'), `ak_${randomBytes(24).toString('base64url')}\n`, { mode: 0o600 });
  // A configured host that is down: nothing is placed on it, so it may fetch nothing.
  const upArgs = ['--no-vm', '--agent', 'edge=http://127.0.0.1:9'];
  let s = await startSummonProcess(dataDir, upArgs);
  t.after(async () => {
    await s.stop();
    await rm(root, { recursive: true, force: true });
  });
  const as = (token: string) => ({ env: { ...s.env, SUMMON_TOKEN: token } });
  const admin = s.token;

  // Two apps, each with a release; beta's artifact differs from alpha's.
  assert.equal((await cli(s, 'apps:create', 'alpha')).code, 0);
  assert.equal((await cli(s, 'apps:create', 'beta')).code, 0);
  const alphaRepo = await exampleRepo('hello-node');
  const betaRepo = await exampleRepo('hello-node', async (dir) => editFile(dir, 'build.mjs', (x) => `${x}\n// beta\n`));
  assert.equal((await push(s, betaRepo, 'beta')).code, 0, 'admin pushes beta');

  const who = await cliJson(s, 'auth:whoami', '--json');
  assert.equal(who.user.email, 'admin@localhost', 'admin.token is the first admin\'s token');
  assert.equal(who.token.scope, 'admin');

  assert.equal((await cli(s, 'users:add', 'dev@example.com')).code, 0);
  assert.equal((await cli(s, 'access:add', '-a', 'alpha', 'dev@example.com')).code, 0);
  const users = await cliJson(s, 'users', '--json') as { email: string; role: string; apps: string[] }[];
  assert.deepEqual(users.map((u) => [u.email, u.role, u.apps]), [['admin@localhost', 'admin', []], ['dev@example.com', 'member', ['alpha']]]);
  const mk = async (...args: string[]): Promise<Created> => cliJson(s, 'tokens:create', ...args, '--json');
  const deployA = await mk('--user', 'dev@example.com', '--scope', 'deploy', '--app', 'alpha', '--name', 'ci', '--expires', '90d');
  const reader = await mk('--scope', 'read', '--name', 'viewer');
  const metrics = await mk('--scope', 'metrics', '--name', 'prom');
  assert.match(deployA.token, /^sk_[A-Za-z0-9_-]{43}$/);

  await t.test('tokens are shown once and stored only as hashes', async () => {
    const list = await cliJson(s, 'tokens', '--json') as Record<string, unknown>[];
    const text = JSON.stringify(list);
    for (const c of [deployA, reader, metrics]) assert.ok(!text.includes(c.token), 'no token in the listing');
    assert.ok(list.every((x) => !('hash' in x) && !('token' in x)));
    for (const f of ['summon.db', 'summon.db-wal']) {
      const db = await readFile(join(dataDir, f)).catch(() => Buffer.alloc(0));
      assert.equal(db.indexOf(deployA.token), -1, `the token is not in ${f}`);
    }
    assert.deepEqual(list.map((x) => [x.name, x.scope, x.app, x.user, x.state]), [
      ['admin.token', 'admin', null, 'admin@localhost', 'active'],
      ['ci', 'deploy', 'alpha', 'dev@example.com', 'active'],
      ['viewer', 'read', null, 'admin@localhost', 'active'],
      ['prom', 'metrics', null, 'admin@localhost', 'active'],
    ]);
  });

  await t.test('a deploy token for alpha pushes alpha over git (HTTP Basic), and nothing else', async () => {
    const r = await push({ apiUrl: s.apiUrl, token: deployA.token }, alphaRepo, 'alpha');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Released v1/);
    const other = await push({ apiUrl: s.apiUrl, token: deployA.token }, betaRepo, 'beta');
    assert.notEqual(other.code, 0);
    assert.match(other.stderr, /403/);
    const cfg = await cli(as(deployA.token), 'config', '-a', 'beta');
    assert.equal(cfg.code, 11, cfg.stderr);
    assert.match(cfg.stderr, /this token is for app alpha only, not beta/);
    const mint = await cli(as(deployA.token), 'tokens:create', '--scope', 'admin');
    assert.equal(mint.code, 11);
    assert.match(mint.stderr, /needs an admin token/);
    for (const args of [['tokens'], ['users'], ['users:add', 'evil@example.com', '--role', 'admin'], ['hosts'], ['apps:create', 'gamma'],
      ['apps:destroy', 'alpha', '--confirm', 'alpha'], ['access:add', '-a', 'alpha', 'evil@example.com'], ['audit']]) {
      const x = await cli(as(deployA.token), ...args);
      assert.equal(x.code, 11, `summon ${args.join(' ')}: ${x.stderr}`);
    }
    // What it may do: read and change alpha, and see only alpha.
    assert.deepEqual((await cliJson(as(deployA.token), 'apps', '--json') as { name: string }[]).map((a) => a.name), ['alpha']);
    const set = await cli(as(deployA.token), 'config:set', '-a', 'alpha', 'GREETING=hi');
    assert.equal(set.code, 0, set.stderr);
    assert.deepEqual(await cliJson(as(deployA.token), 'config', '-a', 'alpha', '--json'), { GREETING: 'hi' });
  });

  await t.test('a read token reads but cannot deploy, config:set, roll back, push or see secrets', async () => {
    assert.equal((await cliJson(as(reader.token), 'releases', '-a', 'alpha', '--json') as unknown[]).length, 2);
    assert.equal((await cliJson(as(reader.token), 'builds', '-a', 'alpha', '--json') as { status: string }[])[0]?.status, 'succeeded', 'the list of builds is readable');
    for (const [args, why] of [
      [['config:set', '-a', 'alpha', 'EVIL=1'], /read token can only read/],
      [['rollback', '-a', 'alpha'], /read token can only read/],
      [['ps:scale', '-a', 'alpha', '3'], /read token can only read/],
      [['config', '-a', 'alpha'], /read token does not see secrets/],
      // A build's log can hold config values (the build sees them as its environment).
      [['builds:info', '-a', 'alpha', 'v1'], /read token does not see secrets/],
    ] as const) {
      const r = await cli(as(reader.token), ...args);
      assert.equal(r.code, 11, `summon ${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, why);
    }
    const r = await push({ apiUrl: s.apiUrl, token: reader.token }, alphaRepo, 'alpha');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /403/);
    const api = await call(s, '/api/apps/alpha/config', { method: 'PATCH', auth: bearer(reader.token), body: { set: { EVIL: '1' } } });
    assert.equal(api.status, 403);
  });

  await t.test('a metrics token scrapes /metrics and nothing else; /metrics needs a metrics or admin token', async () => {
    const m = await call(s, '/metrics', { auth: bearer(metrics.token) });
    assert.equal(m.status, 200);
    assert.match(m.body, /^# TYPE summon_instances gauge$/m);
    const apps = await call(s, '/api/apps', { auth: bearer(metrics.token) });
    assert.equal(apps.status, 403);
    assert.match(message(apps), /metrics token can only scrape GET \/metrics/);
    assert.equal((await cli(as(metrics.token), 'apps')).code, 11);
    assert.equal((await call(s, '/metrics', { auth: bearer(reader.token) })).status, 403);
    assert.equal((await call(s, '/metrics', { auth: bearer(deployA.token) })).status, 403);
    assert.equal((await call(s, '/metrics')).status, 401);
  });

  await t.test('git\'s HTTP Basic works on /git/ and is refused on /api/', async () => {
    const refs = await call(s, '/git/alpha.git/info/refs?service=git-upload-pack', { auth: basic(reader.token) });
    assert.equal(refs.status, 200);
    const api = await call(s, '/api/apps', { auth: basic(admin) });
    assert.equal(api.status, 401);
    assert.match(message(api), /HTTP Basic is accepted on \/git\/ only/);
    assert.equal((await call(s, '/api/apps', { auth: bearer(admin) })).status, 200);
  });

  await t.test('an expired and a revoked token get 401 saying what to do', async () => {
    const from = '127.0.0.3'; // its failures do not count against the CLI's address
    const short = await mk('--scope', 'read', '--name', 'short', '--expires', '1s');
    const gone = await mk('--scope', 'deploy', '--name', 'gone');
    assert.equal((await call(s, '/api/apps', { auth: bearer(gone.token) })).status, 200);
    assert.equal((await cli(s, 'tokens:revoke', gone.id)).code, 0);
    const revoked = await call(s, '/api/apps', { auth: bearer(gone.token), from });
    assert.equal(revoked.status, 401);
    assert.match(message(revoked), new RegExp(`token ${gone.id} \\(gone\\) was revoked at .*ask an admin for a new one`));
    const viaGit = await push({ apiUrl: s.apiUrl, token: gone.token }, alphaRepo, 'alpha');
    assert.notEqual(viaGit.code, 0);
    await waitFor(async () => (await call(s, '/api/apps', { auth: bearer(short.token), from })).status === 401, { timeoutMs: 5000, what: 'the 1s token to expire' });
    const expired = await call(s, '/api/apps', { auth: bearer(short.token), from });
    assert.match(message(expired), /expired at .*summon tokens:create --scope deploy --expires 90d/);
    const r = await cli(as(short.token), 'apps');
    assert.equal(r.code, 4);
    assert.match(r.stderr, /expired/);
    const states = Object.fromEntries((await cliJson(s, 'tokens', '--json') as { name: string; state: string }[]).map((x) => [x.name, x.state]));
    assert.equal(states.short, 'expired');
    assert.equal(states.gone, 'revoked');
  });

  await t.test('a leaked host credential fetches no artifact of another host; the agent secret is no credential', async () => {
    const edge = (await cli(s, 'hosts:credential', 'edge')).stdout.trim();
    assert.match(edge, /^ah_edge\./);
    assert.equal((await cli(s, 'hosts:credential', 'edge', '--data', dataDir)).stdout.trim(), edge, 'the same, worked out offline');
    const sha = (await cliJson(s, 'releases', '-a', 'alpha', '--json') as { artifactSha256: string }[])[0].artifactSha256;
    const from = '127.0.0.4';
    const leaked = await call(s, `/internal/blobs/${sha}`, { auth: bearer(edge), from });
    assert.equal(leaked.status, 403, leaked.body);
    assert.match(message(leaked), /host edge runs no release with artifact/);
    const secret = (await readFile(join(dataDir, 'agent.token'), 'utf8')).trim();
    for (const auth of [bearer(secret), bearer(edge.replace('ah_edge.', 'ah_edge2.')), bearer((await cli(s, 'hosts:credential', 'nowhere')).stdout.trim()), bearer(admin)]) {
      assert.equal((await call(s, `/internal/blobs/${sha}`, { auth, from })).status, 401, auth.slice(0, 20));
    }
    // Only an admin prints host credentials.
    assert.equal((await cli(as(deployA.token), 'hosts:credential', 'edge')).code, 11);
  });

  await t.test('every change is in summon audit --json: who, what, from where, how it ended', async () => {
    const entries = await waitFor(async () => {
      const list = await cliJson(s, 'audit', '--json', '-n', '1000') as Audit[];
      return list.some((e) => e.action === 'token.revoke') ? list : undefined;
    }, { timeoutMs: 5000, what: 'the audit entries' });
    const find = (f: (e: Audit) => boolean, what: string) => {
      const e = entries.find(f);
      assert.ok(e, `${what} in ${JSON.stringify(entries.map((x) => [x.action, x.actor, x.outcome, x.app]))}`);
      return e;
    };
    assert.equal(find((e) => e.action === 'token.bootstrap', 'the first admin token').actor, 'summon');
    const created = find((e) => e.action === 'app.create' && e.app === 'alpha', 'apps:create alpha');
    assert.deepEqual([created.actor, created.tokenName, created.address, created.outcome, created.status], ['admin@localhost', 'admin.token', '127.0.0.1', 'ok', 201]);
    find((e) => e.action === 'user.add' && e.detail.email === 'dev@example.com', 'users:add');
    find((e) => e.action === 'access.add' && e.app === 'alpha', 'access:add');
    const minted = find((e) => e.action === 'token.create' && e.detail.name === 'ci', 'tokens:create ci');
    assert.deepEqual(minted.detail, { scope: 'deploy', app: 'alpha', expires: '90d', name: 'ci', user: 'dev@example.com' });
    const pushed = find((e) => e.action === 'git.push' && e.outcome === 'ok' && e.app === 'alpha', 'the push of alpha');
    assert.deepEqual([pushed.actor, pushed.tokenName, pushed.address], ['dev@example.com', 'ci', '127.0.0.1']);
    const set = find((e) => e.action === 'config.set' && e.outcome === 'ok', 'config:set');
    assert.deepEqual([set.actor, set.tokenName, set.detail.set], ['dev@example.com', 'ci', ['GREETING']]);
    assert.ok(!JSON.stringify(entries).includes('"hi"'), 'config values are never in the audit log');
    const denied = find((e) => e.action === 'config.set' && e.outcome === 'denied', 'the read token\'s config:set');
    assert.deepEqual([denied.tokenName, denied.status], ['viewer', 403]);
    find((e) => e.action === 'git.push' && e.app === 'beta' && e.outcome === 'denied' && e.tokenName === 'ci', 'the refused push of beta');
    find((e) => e.action === 'token.create' && e.outcome === 'denied' && e.tokenName === 'ci', 'the deploy token minting an admin token');
    find((e) => e.action === 'token.revoke' && e.detail.id !== undefined, 'tokens:revoke');
    find((e) => e.action === 'host.credential', 'hosts:credential');
    assert.ok(entries.every((e) => e.method !== 'GET' || (e.action === 'git.push' && e.outcome === 'denied')), 'reads are not audited');
    assert.ok(entries.every((e) => e.actor === 'summon' || e.address === '127.0.0.1'), 'every request has its address');
    const alphaOnly = await cliJson(s, 'audit', '-a', 'alpha', '--json') as Audit[];
    assert.ok(alphaOnly.length > 0 && alphaOnly.every((e) => e.app === 'alpha'));
    const text = (await cli(s, 'audit', '-a', 'alpha')).stdout;
    assert.match(text, /dev@example\.com \(ci\)\s+127\.0\.0\.1\s+git\.push\s+alpha\s+ok 200/);
  });

  await t.test('repeated bad tokens from one address get 429 with Retry-After, then no token is checked from there', async () => {
    const from = '127.0.0.2';
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await call(s, '/api/apps', { auth: bearer(`sk_guess${i}`), from })).status);
    assert.deepEqual(statuses, [...Array(10).fill(401), 429, 429]);
    const blocked = await call(s, '/api/apps', { auth: bearer(admin), from });
    assert.equal(blocked.status, 429, 'a valid token is not checked either while the address is blocked');
    assert.ok(Number(blocked.headers['retry-after']) >= 1 && Number(blocked.headers['retry-after']) <= 6, String(blocked.headers['retry-after']));
    assert.match(message(blocked), /too many failed authentications from 127\.0\.0\.2/);
    const git = await call(s, '/git/alpha.git/info/refs?service=git-upload-pack', { auth: basic(admin), from });
    assert.equal(git.status, 429);
    assert.ok(git.headers['retry-after']);
    // Another address, and successful requests, are not affected.
    for (let i = 0; i < 20; i++) assert.equal((await call(s, '/api/apps', { auth: bearer(admin) })).status, 200);
    const wait = Number(blocked.headers['retry-after']);
    await new Promise((r) => setTimeout(r, wait * 1000 + 200));
    assert.equal((await call(s, '/api/apps', { auth: bearer(admin), from })).status, 200, 'after Retry-After the address may try again');
  });

  await t.test('a revoked admin.token is replaced at the next start; the old one never works again', async () => {
    const id = (await cliJson(s, 'tokens', '--json') as { id: string; name: string }[]).find((x) => x.name === 'admin.token')!.id;
    await mk('--scope', 'admin', '--name', 'spare');
    assert.equal((await cli(s, 'tokens:revoke', id)).code, 0);
    assert.equal((await call(s, '/api/apps', { auth: bearer(admin) })).status, 401);
    await s.stop();
    s = await startSummonProcess(dataDir, upArgs);
    assert.notEqual(s.token, admin);
    assert.equal((await readFile(join(dataDir, 'admin.token'), 'utf8')).trim(), s.token);
    assert.equal((await call(s, '/api/apps', { auth: bearer(s.token) })).status, 200);
    assert.equal((await call(s, '/api/apps', { auth: bearer(admin) })).status, 401);
    assert.equal((await cliJson(s, 'auth:whoami', '--json')).user.email, 'admin@localhost', 'summon up logged the CLI in with the new one');
    // The deploy token made before the restart still works: tokens live in the store.
    assert.equal((await call(s, '/api/apps/alpha', { auth: bearer(deployA.token) })).status, 200);
  });

  await t.test('removing a user ends their tokens; the last admin cannot be removed', async () => {
    assert.equal((await cli(s, 'users:remove', 'dev@example.com')).code, 0);
    assert.equal((await call(s, '/api/apps/alpha', { auth: bearer(deployA.token) })).status, 401);
    const last = await cli(s, 'users:remove', 'admin@localhost');
    assert.equal(last.code, 6);
    assert.match(last.stderr, /last admin/);
  });
});
