// The API contract, checked on the real routes (fastify.inject over a real SQLite store and the
// real token check): the committed OpenAPI document is what the code makes, every route of the
// SDK's table is in it with an explicit access rule, requests are refused by schema in the one
// error shape, answers that do not match their schema never leave, and the SDK reaches every
// route it names through the same table.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { createApiServer } from './api.js';
import { openApiDocument } from './openapi.js';
import { AuditLog } from './audit-log.js';
import { Authenticator } from './auth.js';
import { AuthLimiter } from './auth-limiter.js';
import { adoptAdminToken } from './first-admin.js';
import { PushGrants } from './push-grants.js';
import { ROUTE_RULES } from '../core/access.js';
import { SummonError } from '../core/errors.js';
import { silentLogger } from '../logging/logger.js';
import { SummonClient } from '../sdk/client.js';
import { ROUTES } from '../sdk/routes.js';
import { ErrorBody, type SeriesPoint } from '../sdk/types.js';
import { openStore } from '../store/open.js';
import type { Store } from '../store/store.js';

const REPO = join(import.meta.dirname, '..', '..', '..');
const openApiPath = (url: string) => url.replace(/:([a-z][a-z0-9]*)/g, '{$1}');

test('docs/openapi.json is the document this code makes (regenerate with `npm run openapi`)', async () => {
  const made = await openApiDocument();
  const committed = JSON.parse(await readFile(join(REPO, 'docs', 'openapi.json'), 'utf8')) as unknown;
  assert.deepEqual(committed, JSON.parse(JSON.stringify(made)), 'docs/openapi.json is stale: run `npm run openapi` and commit it');
});

test('every route of the SDK\'s table is documented once, has an access rule, and answers errors in the one shape', async () => {
  const doc = await openApiDocument() as { paths: Record<string, Record<string, { operationId: string; responses: Record<string, { content?: Record<string, { schema: { $ref?: string } }> }> }>> };
  const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).map(([m, op]) => `${m.toUpperCase()} ${path} ${op.operationId}`)).sort();
  const table = Object.entries(ROUTES).map(([name, r]) => `${r.method} ${openApiPath(r.url)} ${name}`).sort();
  assert.deepEqual(documented, table, 'the document\'s operations are exactly sdk/routes.ts');
  const ruled = new Set(ROUTE_RULES.map((r) => `${r.method} ${r.route}`));
  assert.deepEqual(Object.values(ROUTES).filter((r) => !ruled.has(`${r.method} ${r.url}`)).map((r) => `${r.method} ${r.url}`), [],
    'each route needs its line in core/access.ts ROUTE_RULES (who may call it)');
  for (const ops of Object.values(doc.paths)) {
    for (const op of Object.values(ops)) {
      for (const status of ['4XX', '5XX']) {
        assert.equal(op.responses[status]?.content?.['application/json']?.schema.$ref, '#/components/schemas/Error', `${op.operationId} ${status}`);
      }
    }
  }
});

interface Api {
  client: SummonClient;
  inject: (method: string, url: string, body?: unknown, token?: string | null) => Promise<{ status: number; body: unknown }>;
  token: string;
  store: Store;
  close: () => Promise<void>;
}

async function startApi(o: { series?: (app: string) => SeriesPoint[] } = {}): Promise<Api> {
  const dir = await mkdtemp(join(tmpdir(), 'summon-contract-'));
  const store = await openStore(join(dir, 'summon.db'));
  const now = Date.now;
  const audit = new AuditLog({ store, now, logger: silentLogger() });
  const { token } = await adoptAdminToken(store, 'sk_contract-test-admin-token-0123456789', now(), audit);
  const auth = new Authenticator({ store, now, limiter: new AuthLimiter({ now }) });
  const apps = new Set<string>();
  // The controller and the services behind the routes exercised here, as far as they are read.
  const controller = {
    app: () => undefined, instances: () => [], manualHoldUntil: () => null, unflushedUsage: () => 0,
    policy: () => ({ min: 0, max: 1, targetCpu: 0.8, idleTimeoutMs: 0 }),
    appCreated: async () => {}, scale: async () => {},
  };
  const { fastify } = createApiServer({
    store, controller: controller as never, releases: {} as never, repos: { create: async (a: string) => { apps.add(a); }, remove: async () => {} } as never,
    git: {} as never, logs: {} as never, events: { emit: async () => {} } as never, secrets: {} as never,
    agents: [], auth, audit, pushes: new PushGrants(), appUrl: (a) => `http://${a}.test`, gitUrl: (a) => `http://git/${a}.git`,
    metricsText: async () => '', series: o.series ?? (() => []), drains: {} as never, edge: {} as never, artifactPath: (sha) => join(dir, sha),
  });
  await fastify.ready();
  const inject = async (method: string, url: string, body?: unknown, tok: string | null = token) => {
    const res = await fastify.inject({
      method: method as 'GET', url,
      headers: { ...(tok ? { authorization: `Bearer ${tok}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
    });
    return { status: res.statusCode, body: res.body ? JSON.parse(res.body) as unknown : undefined };
  };
  // The SDK over the same routes: its fetch is fastify.inject.
  const viaInject: typeof fetch = async (input, init) => {
    const u = new URL(String(input));
    const res = await fastify.inject({
      method: (init?.method ?? 'GET') as 'GET', url: `${u.pathname}${u.search}`,
      headers: Object.fromEntries(Object.entries((init?.headers ?? {}) as Record<string, string>)),
      ...(init?.body ? { payload: String(init.body) } : {}),
    });
    return new Response(res.statusCode === 204 ? null : res.body, { status: res.statusCode, headers: res.headers as Record<string, string> });
  };
  const client = new SummonClient({ api: 'http://summon.test', token, fetch: viaInject });
  return { client, inject, token, store, close: async () => { await fastify.close(); await store.close(); await rm(dir, { recursive: true, force: true }); } };
}

test('GET /api/openapi.json is served without a token and is the committed document', async (t) => {
  const api = await startApi();
  t.after(api.close);
  const res = await api.inject('GET', '/api/openapi.json', undefined, null);
  assert.equal(res.status, 200);
  const committed = JSON.parse(await readFile(join(REPO, 'docs', 'openapi.json'), 'utf8')) as unknown;
  assert.deepEqual(res.body, committed);
});

test('a request that fails its schema is refused with 400 invalid_input naming the route, the field and the reason', async (t) => {
  const api = await startApi();
  t.after(api.close);
  const cases: [string, string, unknown, RegExp][] = [
    ['POST', '/api/apps', { name: ['hello'] }, /^POST \/api\/apps: name: Invalid input: expected string, received array$/],
    ['POST', '/api/apps/blog/scale', { count: 1, force: true }, /unknown field "force"/],
    ['POST', '/api/apps/blog/scale', { count: 1001 }, /scale: count: Too big: expected number to be <=1000/],
    ['PATCH', '/api/apps/blog/config', { set: { KEY: 42 } }, /config: set\.KEY: config values must be strings/],
    ['POST', '/api/apps/blog/rollback', { version: 'latest' }, /write the version as vN or N/],
    ['GET', '/api/audit?limit=abc', undefined, /^GET \/api\/audit: query limit: must be a whole number from 1 to 10000$/],
    ['GET', '/api/apps/blog/logs?source=kernel', undefined, /query source: Invalid option/],
    ['POST', '/api/tokens', { scope: 'root' }, /scope: Invalid option: expected one of "admin"\|"deploy"\|"read"\|"metrics"/],
  ];
  for (const [method, url, body, message] of cases) {
    const res = await api.inject(method, url, body);
    assert.equal(res.status, 400, `${method} ${url}`);
    const parsed = ErrorBody.parse(res.body);
    assert.equal(parsed.error.code, 'invalid_input');
    assert.match(parsed.error.message, message);
  }
  assert.equal((await api.store.listApps()).length, 0, 'nothing was created');
});

test('no token: 401 in the error shape, before the body is looked at', async (t) => {
  const api = await startApi();
  t.after(api.close);
  const res = await api.inject('POST', '/api/apps', { name: ['x'] }, null);
  assert.equal(res.status, 401);
  assert.equal(ErrorBody.parse(res.body).error.code, 'unauthorized');
});

test('an answer that does not match its schema is not sent: 500 internal in the error shape', async (t) => {
  const leaky = [{ at: 1, instances: 1, total: 1, cpu: null, rps: null, p95Ms: 'fast' }] as unknown as SeriesPoint[];
  const api = await startApi({ series: () => leaky });
  t.after(api.close);
  await api.store.createApp('blog', Date.now());
  const res = await api.inject('GET', '/api/apps/blog/metrics');
  assert.equal(res.status, 500);
  assert.equal(ErrorBody.parse(res.body).error.code, 'internal');
  assert.doesNotMatch(JSON.stringify(res.body), /fast/);
});

test('fields an answer\'s schema does not name never leave: a token\'s hash is not in its listing', async (t) => {
  const api = await startApi();
  t.after(api.close);
  const res = await api.inject('GET', '/api/tokens');
  assert.equal(res.status, 200);
  const [tok] = res.body as Record<string, unknown>[];
  assert.equal(tok.name, 'admin.token');
  assert.equal('hash' in tok, false);
});

test('the SDK reaches its routes through the same table and gets the contract\'s types and errors', async (t) => {
  const api = await startApi();
  t.after(api.close);
  const created = await api.client.createApp('blog');
  assert.deepEqual([created.name, created.state, created.url], ['blog', 'no-release', 'http://blog.test']);
  assert.deepEqual((await api.client.apps()).map((a) => a.name), ['blog']);
  assert.equal((await api.client.whoami()).token.scope, 'admin');
  const refused = await api.client.scale('blog', -1).then(() => null, (e: unknown) => e);
  assert.ok(refused instanceof SummonError);
  assert.equal(refused.code, 'invalid_input');
  assert.match(refused.message, /count: Too small/);
  const doc = await api.client.openapi();
  assert.equal((doc.info as { title: string }).title, 'Summon API');
});
