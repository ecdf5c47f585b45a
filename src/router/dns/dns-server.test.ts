// The summoning DNS server through real clients: dig, and node's resolver (c-ares, which sends
// no EDNS, so its answers come back truncated and it retries over TCP). Hostile input,
// amplification and TCP limits are in dns-hostile.test.ts.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { Resolver } from 'node:dns/promises';
import { DnsServer, type DnsEvent } from './dns-server.js';
import { InvalidInputError } from '../../core/errors.js';
import { dig as digAt, query, udpClient } from '../../testing/dns-clients.js';

const apps: Record<string, { a: string[]; aaaa: string[] }> = {
  blog: { a: ['127.0.0.1'], aaaa: ['::1'] },
  shop: { a: ['10.1.2.3', '10.1.2.4'], aaaa: [] },
  many: { a: Array.from({ length: 100 }, (_, i) => `10.9.${i >> 8}.${i & 0xff}`), aaaa: [] },
  broken: { a: ['not-an-ip', '10.0.0.7'], aaaa: ['1::2::3', '2001:db8::7', 'fe80::1%eth0'] },
  sleepy: { a: ['127.0.0.1'], aaaa: [] },
  tcponly: { a: ['127.0.0.1'], aaaa: [] },
};
let wakes: string[] = [];
let lookups: string[] = [];
const events: DnsEvent[] = [];
const clock = { t: 0 };
let server: DnsServer;
let port: number;

before(async () => {
  server = new DnsServer({
    port: 0,
    domains: ['localhost', 'Apps.Test.', 'test'],
    serverAddresses: { a: ['127.0.0.53'], aaaa: ['::53'] },
    lookup: (app) => {
      lookups.push(app);
      if (app === 'explode') throw new Error('store unavailable');
      return apps[app] ?? null;
    },
    onLookup: (app) => {
      wakes.push(app);
      if (app === 'shop') throw new Error('wake failed'); // must not break the answer
    },
    onEvent: (e) => events.push(e),
    now: () => clock.t,
  });
  ({ port } = await server.listen());
});
after(() => server.close());
beforeEach(() => {
  wakes = [];
  lookups = [];
  clock.t += 60_000; // every test starts with no wake in its interval
});

const dig = (name: string, type: string, ...extra: string[]) => digAt(port, name, type, ...extra);

function resolver(): Resolver {
  const r = new Resolver({ timeout: 3000, tries: 1 });
  r.setServers([`127.0.0.1:${port}`]);
  return r;
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: NodeJS.ErrnoException) => {
    assert.equal(e.code, code);
    return true;
  });
}

test('dig A: authoritative, not recursive, RD echoed, TTL 5, the name as asked (case, trailing dot)', async () => {
  const d = await dig('BLOG.Apps.TEST.', 'A');
  assert.equal(d.status, 'NOERROR', d.raw);
  assert.deepEqual(d.flags.sort(), ['aa', 'qr', 'rd'], d.raw);
  assert.deepEqual(d.answers, [['BLOG.Apps.TEST.', '5', 'IN', 'A', '127.0.0.1']]);
  assert.deepEqual(wakes, ['blog']);
  const norec = await dig('blog.localhost', 'A', '+norecurse');
  assert.deepEqual(norec.flags.sort(), ['aa', 'qr'], norec.raw);
});

test('dig AAAA from the lookup\'s aaaa list', async () => {
  const d = await dig('blog.apps.test', 'AAAA');
  assert.equal(d.status, 'NOERROR');
  assert.deepEqual(d.answers.map((a) => [a[1], a[3], a[4]]), [['5', 'AAAA', '::1']]);
  assert.deepEqual(wakes, ['blog']);
});

test('an app with only IPv4: AAAA is NODATA (NOERROR, no answer, SOA in authority) and still wakes', async () => {
  const d = await dig('shop.apps.test', 'AAAA');
  assert.equal(d.status, 'NOERROR', d.raw);
  assert.ok(d.flags.includes('aa'));
  assert.deepEqual(d.answers, []);
  assert.deepEqual(d.authority, [['apps.test.', '5', 'IN', 'SOA', 'apps.test.', 'hostmaster.apps.test.', '1', '3600', '600', '86400', '5']]);
  assert.deepEqual(wakes, ['shop']);
  assert.ok(events.some((e) => e.name === 'dns.wake_error' && e.app === 'shop'), 'the throwing onLookup was reported');
});

test('unknown app: NXDOMAIN with the SOA (negative TTL 5), no wake; another type of a known name: NODATA', async () => {
  const nx = await dig('nosuch.apps.test', 'A');
  assert.equal(nx.status, 'NXDOMAIN');
  assert.ok(nx.flags.includes('aa'));
  assert.deepEqual(nx.authority.map((r) => [r[0], r[1], r[3], r[10]]), [['apps.test.', '5', 'SOA', '5']]);
  const nodata = await dig('blog.apps.test', 'TXT');
  assert.equal(nodata.status, 'NOERROR');
  assert.deepEqual(nodata.answers, []);
  assert.deepEqual(nodata.authority.map((r) => r[3]), ['SOA']);
  assert.deepEqual(wakes, [], 'neither wakes: no such app, and TXT is not a connection about to happen');
  assert.deepEqual(lookups, ['nosuch', 'blog']);
});

test('under localhost: apps only, no SOA to claim (negatives carry none), and localhost itself is REFUSED', async () => {
  const nx = await dig('nosuch.localhost', 'A');
  assert.equal(nx.status, 'NXDOMAIN');
  assert.deepEqual(nx.authority, []);
  const nodata = await dig('shop.localhost', 'AAAA');
  assert.equal(nodata.status, 'NOERROR');
  assert.deepEqual([nodata.answers, nodata.authority], [[], []]);
  for (const type of ['SOA', 'NS', 'A']) {
    const apex = await dig('localhost', type);
    assert.equal(apex.status, 'REFUSED', `localhost ${type}`);
    assert.ok(!apex.flags.includes('aa'));
  }
});

test('the apex of a --domain: SOA, NS naming the apex with its address, A/AAAA of this server, NODATA else', async () => {
  const soa = await dig('apps.test', 'SOA');
  assert.equal(soa.status, 'NOERROR');
  assert.ok(soa.flags.includes('aa'));
  assert.deepEqual(soa.answers, [['apps.test.', '5', 'IN', 'SOA', 'apps.test.', 'hostmaster.apps.test.', '1', '3600', '600', '86400', '5']]);
  const ns = await dig('Apps.Test', 'NS');
  assert.deepEqual(ns.answers, [['Apps.Test.', '5', 'IN', 'NS', 'apps.test.']]);
  assert.deepEqual(ns.additional.map((r) => [r[0], r[3], r[4]]), [['apps.test.', 'A', '127.0.0.53'], ['apps.test.', 'AAAA', '::53']]);
  assert.deepEqual((await dig('apps.test', 'A')).answers.map((r) => r[4]), ['127.0.0.53']);
  const txt = await dig('apps.test', 'TXT');
  assert.equal(txt.status, 'NOERROR');
  assert.deepEqual(txt.answers, []);
  assert.deepEqual(txt.authority.map((r) => r[3]), ['SOA']);
  const any = await dig('test', 'ANY');
  assert.deepEqual(any.answers.map((r) => r[3]), ['SOA'], 'one RRset for ANY (RFC 8482)');
  assert.deepEqual(wakes, []);
  assert.deepEqual(lookups, [], 'the apex is not an app');
});

test('names that are not app names: NXDOMAIN without asking lookup()', async () => {
  for (const name of ['9blog.localhost', 'a_b.localhost', 'x.blog.localhost', `${'a'.repeat(31)}.localhost`, 'Bad--.x.test', 'ü.apps.test']) {
    const d = await dig(name, 'A');
    assert.equal(d.status, 'NXDOMAIN', name);
  }
  assert.deepEqual(lookups, []);
  assert.deepEqual(wakes, []);
});

test('outside our zones: REFUSED, not authoritative, never recursive (no open resolver)', async () => {
  for (const [name, type] of [['example.com', 'A'], ['blog.example.com', 'A'], ['localhost.example', 'A'], ['.', 'NS'], ['com', 'SOA']]) {
    const d = await dig(name, type);
    assert.equal(d.status, 'REFUSED', name);
    assert.ok(!d.flags.includes('aa') && !d.flags.includes('ra'), d.raw);
    assert.deepEqual([d.answers, d.authority], [[], []]);
  }
  assert.equal((await dig('version.bind', 'TXT', '-c', 'CH')).status, 'REFUSED');
  assert.equal((await dig('blog.localhost', 'A', '-c', 'CH')).status, 'REFUSED', 'only class IN (or ANY) is ours');
  assert.equal((await dig('apps.test', 'AXFR', '+tcp')).raw.includes('Transfer failed'), true, 'no zone transfers');
  await rejectsWith(resolver().resolve4('example.com'), 'EREFUSED');
  assert.deepEqual(lookups, []);
});

test('TC → TCP: answers past the client\'s UDP size come back truncated, and dig gets them all over TCP', async () => {
  const udp = await dig('many.localhost', 'A', '+ignore', '+bufsize=512');
  assert.ok(udp.flags.includes('tc'), udp.raw);
  assert.equal(udp.transport, 'UDP');
  assert.deepEqual(udp.answers, [], 'a truncated reply carries no records');
  const full = await dig('many.localhost', 'A', '+bufsize=512');
  assert.match(full.raw, /Truncated, retrying in TCP mode/);
  assert.equal(full.transport, 'TCP');
  assert.equal(full.answers.length, 100, full.raw);
  // With EDNS's 1232 bytes, 40 addresses fit where 100 did not.
  const big = await dig('many.localhost', 'A', '+bufsize=4096', '+ignore');
  assert.ok(big.flags.includes('tc'));
  assert.ok(big.size <= 1232);
});

test('without EDNS an answer is never larger than the query: TC, and the client retries over TCP', async () => {
  const d = await dig('blog.localhost', 'A', '+noedns');
  assert.match(d.raw, /Truncated, retrying in TCP mode/);
  assert.equal(d.transport, 'TCP');
  assert.deepEqual(d.answers.map((a) => a[4]), ['127.0.0.1']);
  // node's resolver sends no EDNS: it follows TC to TCP on its own.
  assert.deepEqual(await resolver().resolve4('shop.apps.test', { ttl: true }), [{ address: '10.1.2.3', ttl: 5 }, { address: '10.1.2.4', ttl: 5 }]);
  assert.deepEqual(await resolver().resolve6('blog.apps.test'), ['::1']);
  await rejectsWith(resolver().resolve4('nosuch.localhost'), 'ENOTFOUND');
  await rejectsWith(resolver().resolveMx('blog.localhost'), 'ENODATA');
});

test('TCP answers with dig +tcp, and a lookup over TCP wakes the app', async () => {
  const d = await dig('tcponly.localhost', 'A', '+tcp');
  assert.equal(d.status, 'NOERROR', d.raw);
  assert.equal(d.transport, 'TCP');
  assert.deepEqual(d.answers.map((a) => a[4]), ['127.0.0.1']);
  assert.deepEqual(wakes, ['tcponly']);
  const nx = await dig('nosuch.apps.test', 'A', '+tcp');
  assert.equal(nx.status, 'NXDOMAIN');
  assert.deepEqual(nx.authority.map((r) => r[3]), ['SOA']);
});

test('EDNS: OPT echoed with our UDP size; an unknown EDNS version gets BADVERS', async () => {
  const ok = await dig('blog.localhost', 'A', '+edns=0', '+bufsize=4096');
  assert.equal(ok.status, 'NOERROR');
  assert.match(ok.raw, /; EDNS: version: 0, flags:; udp: 1232/);
  const bad = await dig('blog.localhost', 'A', '+edns=1', '+noednsnegotiation');
  assert.equal(bad.status, 'BADVERS', bad.raw);
});

test('wakes: before the answer goes out, once per app per interval whatever the number of lookups', async () => {
  const c = await udpClient(port);
  try {
    for (let i = 0; i < 50; i++) await c.send(query('sleepy.localhost', 'A', { id: 100 + i, edns: 1232 }));
    for (let i = 0; i < 50; i++) await c.reply(100 + i);
  } finally {
    await c.close();
  }
  assert.equal(lookups.length, 50, 'every query was looked up');
  assert.deepEqual(wakes, ['sleepy'], 'one wake');
  assert.equal((await dig('sleepy.localhost', 'A', '+tcp')).status, 'NOERROR');
  assert.deepEqual(wakes, ['sleepy'], 'still one: TCP shares the interval');
  clock.t += 1000;
  await dig('sleepy.localhost', 'A');
  assert.deepEqual(wakes, ['sleepy', 'sleepy'], 'the next interval wakes again');
});

test('addresses that do not parse are skipped, the rest served (a zone index dropped)', async () => {
  assert.deepEqual((await dig('broken.localhost', 'A')).answers.map((a) => a[4]), ['10.0.0.7']);
  assert.deepEqual((await dig('broken.localhost', 'AAAA')).answers.map((a) => a[4]), ['2001:db8::7', 'fe80::1']);
  assert.deepEqual((await dig('broken.localhost', 'ANY')).answers.map((a) => a[3]), ['A', 'AAAA', 'AAAA']);
});

test('lookup() throwing answers SERVFAIL and the server goes on', async () => {
  const d = await dig('explode.localhost', 'A');
  assert.equal(d.status, 'SERVFAIL');
  assert.ok(events.some((e) => e.name === 'dns.lookup_error' && e.app === 'explode'));
  assert.equal((await dig('blog.localhost', 'A')).status, 'NOERROR');
});

test('bad options fail at construction with the key', () => {
  const lookup = () => null;
  assert.throws(() => new DnsServer({ port: 0, domains: [], lookup }), InvalidInputError);
  assert.throws(() => new DnsServer({ port: 0, domains: ['bad domain'], lookup }), /dns\.domains/);
  assert.throws(() => new DnsServer({ port: 70000, domains: ['localhost'], lookup }), /dns\.port/);
  assert.throws(() => new DnsServer({ port: 0, domains: ['localhost'], lookup, ttl: -1 }), /dns\.ttl/);
  assert.throws(() => new DnsServer({ port: 0, host: 'nope', domains: ['localhost'], lookup }), /dns\.host/);
  assert.throws(() => new DnsServer({ port: 0, domains: ['localhost'] } as never), /dns\.lookup/);
  assert.throws(() => new DnsServer({ port: 0, domains: ['localhost'], lookup, wakeInterval: 0 }), /dns\.wakeInterval/);
  assert.throws(() => new DnsServer({ port: 0, domains: ['localhost'], lookup, tcpIdleTimeout: 1.5 }), /dns\.tcpIdleTimeout/);
  assert.throws(() => new DnsServer({ port: 0, domains: ['localhost'], lookup, serverAddresses: { a: ['nope'], aaaa: [] } }), /dns\.serverAddresses/);
});

test('close() frees the port and is idempotent; listening twice is refused', async () => {
  const s = new DnsServer({ port: 0, domains: ['localhost'], lookup: () => null });
  const { port: p } = await s.listen();
  await assert.rejects(s.listen());
  await s.close();
  await s.close();
  const again = new DnsServer({ port: p, domains: ['localhost'], lookup: () => null });
  assert.equal((await again.listen()).port, p);
  await again.close();
});

test('a taken port fails listen() with EADDRINUSE', async () => {
  const s = new DnsServer({ port, domains: ['localhost'], lookup: () => null });
  await assert.rejects(s.listen(), /EADDRINUSE/);
});
