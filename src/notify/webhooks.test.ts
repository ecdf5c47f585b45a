// Deliveries against real receivers on loopback: what is refused never reaches them, what is
// allowed arrives signed, and the socket goes to the address that was checked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LookupAddress } from 'node:dns';
import { EventBus } from '../control/event-bus.js';
import { LogStore } from '../control/log-store.js';
import type { SummonEvent } from '../core/types.js';
import { createSqliteStore } from '../store/sqlite.js';
import type { Webhook } from '../store/store.js';
import { waitFor } from '../testing/wait.js';
import { signBody, WebhookNotifier, type WebhookNotifierOptions, type WebhookPayload } from './webhooks.js';
import type { Resolver } from './webhook-targets.js';

interface Got { headers: http.IncomingHttpHeaders; raw: string }

/** A receiver on 127.0.0.1 answering `status` (or never, for null). */
async function receiver(status: number | null = 204, extra: Record<string, string> = {}) {
  const got: Got[] = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (raw += c));
    req.on('end', () => {
      got.push({ headers: req.headers, raw });
      if (status !== null) res.writeHead(status, extra).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    port, got,
    close: () => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); }),
  };
}

async function setup(o: Partial<WebhookNotifierOptions> = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'summon-webhooks-'));
  const store = await createSqliteStore(join(dir, 'summon.db'));
  const logs = new LogStore({ dir: join(dir, 'logs') });
  const events = new EventBus({ store, logs, now: Date.now });
  const seen: SummonEvent[] = [];
  events.subscribe((e) => seen.push(e));
  await store.createApp('hooked', Date.now());
  const notifier = new WebhookNotifier({ store, events, retryBaseMs: 0, maxAttempts: 3, ...o });
  let n = 0;
  /** Stored as is, without the route's check: what an older Summon may have kept, or a name. */
  const hook = async (url: string): Promise<Webhook> => {
    const h: Webhook = { id: `wh-${String(++n).padStart(10, '0')}`, app: 'hooked', url, events: ['*'], secret: 'whsec_test', createdAt: Date.now() };
    await store.addWebhook(h);
    return h;
  };
  const deliveries = async (h: Webhook) => (await store.listDeliveries('hooked', 100)).filter((d) => d.webhookId === h.id);
  return {
    notifier, seen, hook, deliveries, store, events,
    close: async () => {
      await notifier.close();
      await events.drained();
      await logs.flush();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const payload: WebhookPayload = { id: 7, type: 'release.live', app: 'hooked', message: 'v1 is live', data: { version: 1 }, at: 1 };
const family = (address: string) => (address.includes(':') ? 6 : 4);

test('internal targets are refused before connecting, recorded once, and not retried', async () => {
  const r = await receiver();
  const s = await setup();
  try {
    const hint = '(summon up --webhooks-allow-private allows it)';
    const cases: [string, string][] = [
      [`http://127.0.0.1:${r.port}/hook`, `refused: 127.0.0.1 is a loopback address ${hint}`],
      [`http://[::ffff:127.0.0.1]:${r.port}/hook`, `refused: ::ffff:7f00:1 is IPv4-mapped 127.0.0.1, a loopback address ${hint}`],
      ['http://169.254.169.254/latest/meta-data/', `refused: 169.254.169.254 is the cloud metadata address ${hint}`],
      ['http://10.0.0.1/hook', `refused: 10.0.0.1 is a private address ${hint}`],
      ['http://0.0.0.0/hook', `refused: 0.0.0.0 is an unspecified address ${hint}`],
      [`http://user:hunter2@127.0.0.1:${r.port}/hook`, 'refused: it carries a user name or password (user:pass@) (remove the webhook and add it again without them)'],
    ];
    for (const [url, error] of cases) {
      const h = await s.hook(url);
      assert.equal(await s.notifier.deliver(h, payload), false, url);
      const d = await s.deliveries(h);
      assert.deepEqual(d.map((x) => [x.attempt, x.status, x.ok, x.error]), [[1, null, false, error]], `${url}: one refused attempt, not three`);
      const failed = await waitFor(() => s.seen.find((e) => e.type === 'webhook.failed' && e.data.webhook === h.id), { timeoutMs: 5000, what: `webhook.failed for ${url}` });
      assert.doesNotMatch(failed.message, /hunter2/, 'the event does not repeat a password');
    }
    // the real resolver: localhost is 127.0.0.1 (and ::1)
    const h = await s.hook(`http://localhost:${r.port}/hook`);
    assert.equal(await s.notifier.deliver(h, payload), false);
    const [d] = await s.deliveries(h);
    assert.match(String(d.error), /^refused: localhost resolves to (127\.0\.0\.1|::1), a loopback address \(summon up --webhooks-allow-private allows it\)$/);
    assert.equal(r.got.length, 0, 'nothing reached the receiver');
  } finally {
    await s.close();
    await r.close();
  }
});

test('a name that resolves to an internal address is refused, looked up once', async () => {
  const r = await receiver();
  const lookups: string[] = [];
  const resolve: Resolver = async (host) => {
    lookups.push(host);
    return [{ address: '93.184.216.34', family: 4 }, { address: '127.0.0.1', family: 4 }];
  };
  const s = await setup({ resolve });
  try {
    const h = await s.hook(`http://rebind.test:${r.port}/hook`);
    assert.equal(await s.notifier.deliver(h, payload), false);
    const [d] = await s.deliveries(h);
    assert.equal(d.error, 'refused: rebind.test resolves to 127.0.0.1, a loopback address (summon up --webhooks-allow-private allows it)');
    assert.deepEqual(lookups, ['rebind.test']);
    assert.equal(r.got.length, 0);
  } finally {
    await s.close();
    await r.close();
  }
});

test('with allowPrivate a loopback receiver gets the signed delivery', async () => {
  const r = await receiver();
  const s = await setup({ allowPrivate: true });
  try {
    const h = await s.hook(`http://127.0.0.1:${r.port}/hook?x=1`);
    assert.equal(await s.notifier.deliver(h, payload), true);
    assert.equal(r.got.length, 1);
    const [g] = r.got;
    assert.equal(g.headers['x-summon-signature'], signBody('whsec_test', g.raw));
    assert.equal(g.headers['x-summon-event'], 'release.live');
    assert.equal(g.headers['x-summon-attempt'], '1');
    assert.equal(g.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(g.raw), payload);
    const [d] = await s.deliveries(h);
    assert.deepEqual([d.status, d.ok, d.error], [204, true, null]);
  } finally {
    await s.close();
    await r.close();
  }
});

test('the socket goes to the address that was checked, with the URL\'s own Host header', async () => {
  const r = await receiver();
  // A rebinding name: the first answer is the one checked; any later lookup would send the
  // request elsewhere (an address nothing listens on), so arriving proves there was none.
  const answers: LookupAddress[][] = [[{ address: '127.0.0.1', family: 4 }]];
  const lookups: string[] = [];
  const resolve: Resolver = async (host) => {
    lookups.push(host);
    return answers.shift() ?? [{ address: '192.0.2.1', family: family('192.0.2.1') }];
  };
  const s = await setup({ allowPrivate: true, resolve });
  try {
    const h = await s.hook(`http://receiver.test:${r.port}/hook`);
    assert.equal(await s.notifier.deliver(h, payload), true);
    assert.equal(r.got[0].headers.host, `receiver.test:${r.port}`);
    assert.deepEqual(lookups, ['receiver.test']);
  } finally {
    await s.close();
    await r.close();
  }
});

test('redirects are answers, not followed; a silent receiver times out', async () => {
  const target = await receiver();
  const redirect = await receiver(302, { location: `http://127.0.0.1:${target.port}/elsewhere` });
  const silent = await receiver(null);
  const s = await setup({ allowPrivate: true, maxAttempts: 1, timeoutMs: 300 });
  try {
    const h = await s.hook(`http://127.0.0.1:${redirect.port}/hook`);
    assert.equal(await s.notifier.deliver(h, payload), false);
    assert.equal((await s.deliveries(h))[0].error, 'answered 302');
    assert.equal(redirect.got.length, 1);
    assert.equal(target.got.length, 0, 'the redirect was not followed');
    const q = await s.hook(`http://127.0.0.1:${silent.port}/hook`);
    assert.equal(await s.notifier.deliver(q, payload), false);
    assert.equal((await s.deliveries(q))[0].error, 'timed out');
  } finally {
    await s.close();
    await Promise.all([target.close(), redirect.close(), silent.close()]);
  }
});

test('options are checked at construction', async () => {
  const s = await setup();
  try {
    const { store, events } = s;
    assert.throws(() => new WebhookNotifier({ store, events, timeoutMs: 0 }), /timeoutMs must be > 0/);
    assert.throws(() => new WebhookNotifier({ store, events, allowPrivate: 'yes' as unknown as boolean }), /allowPrivate must be true or false/);
  } finally {
    await s.close();
  }
});
