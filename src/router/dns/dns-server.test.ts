import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { Resolver } from 'node:dns/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { DnsServer, type DnsEvent } from './dns-server.js';
import { TYPE, encodeQuery } from './dns-wire.js';
import { InvalidInputError } from '../../core/errors.js';

const run = promisify(execFile);

const apps: Record<string, { a: string[]; aaaa: string[] }> = {
  blog: { a: ['127.0.0.1'], aaaa: ['::1'] },
  shop: { a: ['10.1.2.3', '10.1.2.4'], aaaa: [] },
  many: { a: Array.from({ length: 100 }, (_, i) => `10.9.${i >> 8}.${i & 0xff}`), aaaa: [] },
  broken: { a: ['not-an-ip', '10.0.0.7'], aaaa: ['1::2::3', '2001:db8::7'] },
};
let wakes: string[] = [];
let lookups: string[] = [];
const events: DnsEvent[] = [];
let server: DnsServer;
let port: number;

before(async () => {
  server = new DnsServer({
    port: 0,
    domains: ['localhost', 'Apps.Test.', 'test'],
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
  });
  ({ port } = await server.listen());
});
after(() => server.close());
beforeEach(() => {
  wakes = [];
  lookups = [];
});

function resolver(): Resolver {
  const r = new Resolver({ timeout: 3000, tries: 1 });
  r.setServers([`127.0.0.1:${port}`]);
  return r;
}

interface Dig {
  status: string;
  flags: string[];
  answers: string[][];
  raw: string;
}
async function dig(name: string, type: string, ...extra: string[]): Promise<Dig> {
  const { stdout } = await run('dig', [`@127.0.0.1`, '-p', String(port), '+time=3', '+tries=1', ...extra, name, type]);
  const status = /status: (\w+)/.exec(stdout)?.[1] ?? '';
  const flags = (/;; flags: ([a-z ]*)[;]/.exec(stdout)?.[1] ?? '').trim().split(/\s+/);
  const answers: string[][] = [];
  const sec = stdout.split(';; ANSWER SECTION:\n')[1];
  if (sec) for (const line of sec.split('\n\n')[0].split('\n')) answers.push(line.split(/\s+/));
  return { status, flags, answers, raw: stdout };
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: NodeJS.ErrnoException) => {
    assert.equal(e.code, code);
    return true;
  });
}

/** A UDP client that collects replies, so a test can wait for the reply to a given id. */
async function udpClient() {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  const replies: Buffer[] = [];
  const waiters: Array<() => void> = [];
  sock.on('message', (m) => {
    replies.push(m);
    for (const w of waiters.splice(0)) w();
  });
  return {
    replies,
    send: (b: Buffer) => new Promise<void>((r, j) => sock.send(b, port, '127.0.0.1', (e) => (e ? j(e) : r()))),
    async reply(id: number): Promise<Buffer> {
      for (;;) {
        const hit = replies.find((m) => m.length >= 2 && m.readUInt16BE(0) === id);
        if (hit) return hit;
        await new Promise<void>((r) => waiters.push(r));
      }
    },
    close: () => new Promise<void>((r) => sock.close(() => r())),
  };
}

test('answers A for an app through a real resolver, with the short TTL', async () => {
  const r = await resolver().resolve4('blog.localhost', { ttl: true });
  assert.deepEqual(r, [{ address: '127.0.0.1', ttl: 5 }]);
  assert.deepEqual(wakes, ['blog']);
  assert.deepEqual(await resolver().resolve4('shop.apps.test'), ['10.1.2.3', '10.1.2.4']);
});

test('answers AAAA', async () => {
  assert.deepEqual(await resolver().resolve6('blog.apps.test'), ['::1']);
  assert.deepEqual(wakes, ['blog']);
  const d = await dig('blog.apps.test', 'AAAA');
  assert.equal(d.status, 'NOERROR');
  assert.deepEqual(d.answers.map((a) => [a[3], a[4]]), [['AAAA', '::1']]);
});

test('dig: A answer is authoritative, not recursive, case-insensitive, trailing dot fine', async () => {
  const d = await dig('BLOG.Apps.TEST.', 'A');
  assert.equal(d.status, 'NOERROR', d.raw);
  assert.ok(d.flags.includes('aa'), d.raw);
  assert.ok(!d.flags.includes('ra'), d.raw);
  assert.deepEqual(d.answers, [['BLOG.Apps.TEST.', '5', 'IN', 'A', '127.0.0.1']]);
  assert.deepEqual(wakes, ['blog']);
});

test('onLookup is called once per address query, before the answer arrives', async () => {
  const order: string[] = [];
  const q = resolver().resolve4('blog.localhost').then(() => order.push(`answer after ${wakes.length} wake(s)`));
  await q;
  assert.deepEqual(order, ['answer after 1 wake(s)']);
  await resolver().resolve4('blog.localhost');
  await dig('blog.localhost', 'A');
  assert.deepEqual(wakes, ['blog', 'blog', 'blog']);
});

test('a throwing onLookup does not stop the answer', async () => {
  assert.deepEqual(await resolver().resolve4('shop.localhost'), ['10.1.2.3', '10.1.2.4']);
  assert.ok(events.some((e) => e.name === 'dns.wake_error' && e.app === 'shop'));
});

test('unknown app: NXDOMAIN, authoritative, no wake', async () => {
  await rejectsWith(resolver().resolve4('nosuch.localhost'), 'ENOTFOUND');
  const d = await dig('nosuch.apps.test', 'A');
  assert.equal(d.status, 'NXDOMAIN');
  assert.ok(d.flags.includes('aa'));
  assert.deepEqual(wakes, []);
  assert.deepEqual(lookups, ['nosuch', 'nosuch']);
});

test('names that are not app names: NXDOMAIN without asking lookup()', async () => {
  for (const name of ['9blog.localhost', 'a_b.localhost', 'x.blog.localhost', `${'a'.repeat(31)}.localhost`, 'Bad--.apps.test.x.test']) {
    const d = await dig(name, 'A');
    assert.equal(d.status, 'NXDOMAIN', name);
  }
  await rejectsWith(resolver().resolve4('x.blog.apps.test'), 'ENOTFOUND');
  assert.deepEqual(lookups, []);
  assert.deepEqual(wakes, []);
});

test('foreign names: REFUSED, not authoritative, never recursive', async () => {
  await rejectsWith(resolver().resolve4('example.com'), 'EREFUSED');
  for (const name of ['blog.example.com', 'localhost.example', '.']) {
    const d = await dig(name, 'A');
    assert.equal(d.status, 'REFUSED', name);
    assert.ok(!d.flags.includes('aa') && !d.flags.includes('ra'), d.raw);
  }
  assert.deepEqual(lookups, []);
});

test('existing app, other type: NODATA (NOERROR, no answers), no wake', async () => {
  await rejectsWith(resolver().resolveMx('blog.localhost'), 'ENODATA');
  const d = await dig('blog.apps.test', 'TXT');
  assert.equal(d.status, 'NOERROR');
  assert.ok(d.flags.includes('aa'));
  assert.deepEqual(d.answers, []);
  assert.match(d.raw, /ANSWER: 0/);
  assert.deepEqual(wakes, []);
  // An app without IPv6 addresses: AAAA is NODATA too, but it still wakes.
  await rejectsWith(resolver().resolve6('shop.localhost'), 'ENODATA');
  assert.deepEqual(wakes, ['shop']);
});

test('the zone apex exists but holds nothing: NODATA', async () => {
  const d = await dig('apps.test', 'A');
  assert.equal(d.status, 'NOERROR');
  assert.deepEqual(d.answers, []);
});

test('addresses that do not parse are skipped, the rest are served', async () => {
  assert.deepEqual(await resolver().resolve4('broken.localhost'), ['10.0.0.7']);
  assert.deepEqual(await resolver().resolve6('broken.localhost'), ['2001:db8::7']);
});

test('lookup() throwing answers SERVFAIL and the server goes on', async () => {
  const d = await dig('explode.localhost', 'A');
  assert.equal(d.status, 'SERVFAIL');
  assert.ok(events.some((e) => e.name === 'dns.lookup_error' && e.app === 'explode'));
  assert.deepEqual(await resolver().resolve4('blog.localhost'), ['127.0.0.1']);
});

test('TCP answers too (dig +tcp)', async () => {
  const d = await dig('shop.localhost', 'A', '+tcp');
  assert.equal(d.status, 'NOERROR', d.raw);
  assert.deepEqual(d.answers.map((a) => a[4]).sort(), ['10.1.2.3', '10.1.2.4']);
});

test('too many addresses for UDP: TC set, the client retries over TCP and gets them all', async () => {
  const udp = await dig('many.localhost', 'A', '+ignore', '+bufsize=512');
  assert.ok(udp.flags.includes('tc'), udp.raw);
  assert.ok(udp.answers.length < 100);
  const full = await dig('many.localhost', 'A', '+bufsize=512');
  assert.equal(full.answers.length, 100, full.raw);
  assert.equal((await resolver().resolve4('many.localhost')).length, 100);
});

test('EDNS: OPT is tolerated and echoed; an unknown EDNS version gets BADVERS', async () => {
  const ok = await dig('blog.localhost', 'A', '+edns=0');
  assert.equal(ok.status, 'NOERROR');
  assert.match(ok.raw, /OPT PSEUDOSECTION/);
  const bad = await dig('blog.localhost', 'A', '+edns=1', '+noednsnegotiation');
  assert.equal(bad.status, 'BADVERS', bad.raw);
});

test('malformed packets: no crash, FORMERR where there is a header, and the server still answers', async () => {
  const c = await udpClient();
  try {
    // Pointer to itself, label + pointer back, pointer forward past the end.
    const loops = [
      [0xc0, 12],
      [1, 0x61, 0xc0, 12],
      [3, 0x61, 0x62, 0x63, 0xc0, 12],
      [0xc3, 0xff],
    ];
    for (let i = 0; i < loops.length; i++) {
      const id = 0x7000 + i;
      const h = Buffer.alloc(12);
      h.writeUInt16BE(id, 0);
      h.writeUInt16BE(1, 4);
      await c.send(Buffer.concat([h, Buffer.from(loops[i]), Buffer.from([0, 1, 0, 1])]));
      const r = await c.reply(id);
      assert.equal(r.readUInt16BE(2) & 0x0f, 1, `FORMERR for loop ${i}`);
      assert.equal(r.readUInt16BE(2) & 0x8000, 0x8000);
    }
    // Truncated headers and random garbage (seeded, so a failure can be replayed).
    await c.send(Buffer.alloc(0));
    await c.send(Buffer.from([0x12, 0x34, 0x01]));
    await c.send(Buffer.from([0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00]));
    let seed = 0x2545f491;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) & 0xff;
    for (let i = 0; i < 2000; i++) {
      const len = (rnd() << 1) % 300;
      const b = Buffer.alloc(len);
      for (let k = 0; k < len; k++) b[k] = rnd();
      // Some with a plausible header, so the name parser gets exercised too.
      if (len >= 12 && i % 2 === 0) {
        b[2] = 0x01;
        b[3] = 0;
        b.writeUInt16BE(1, 4);
        b[12] = rnd() | 0xc0;
      }
      if (len >= 2) b.writeUInt16BE(0x1000 + (i % 0x4000), 0);
      await c.send(b);
      // A probe every 100 packets keeps the socket buffers from overflowing (UDP drops
      // silently) and shows the server is still answering part-way through.
      if (i % 100 === 99) {
        const probe = 0x8000 + i;
        await c.send(encodeQuery('blog.localhost', TYPE.A, { id: probe }));
        assert.equal((await c.reply(probe)).readUInt16BE(6), 1);
      }
    }
    // Replies are sent in order, so this arrives after whatever the garbage produced.
    const good = encodeQuery('blog.localhost', TYPE.A, { id: 0xfeed });
    await c.send(good);
    const r = await c.reply(0xfeed);
    assert.equal(r.readUInt16BE(2) & 0x0f, 0);
    assert.equal(r.readUInt16BE(6), 1);
    for (const m of c.replies) {
      assert.ok(m.length >= 12 && (m.readUInt16BE(2) & 0x8000) !== 0, 'every reply is a well-formed response');
    }
  } finally {
    await c.close();
  }
  assert.ok(events.some((e) => e.name === 'dns.malformed'));
  assert.ok(!events.some((e) => e.name === 'dns.malformed' && e.reason.startsWith('internal')), 'no internal errors');
  assert.deepEqual(await resolver().resolve4('blog.localhost'), ['127.0.0.1']);
});

test('TCP garbage closes that connection only', async () => {
  const sock = net.connect(port, '127.0.0.1');
  const closed = new Promise<void>((r) => sock.on('close', () => r()));
  sock.on('error', () => {});
  sock.write(Buffer.from([0, 5, 1, 2, 3, 4, 5]));
  await closed;
  const d = await dig('blog.localhost', 'A', '+tcp');
  assert.equal(d.status, 'NOERROR');
});

test('TCP: several length-prefixed queries in one write are all answered, in order', async () => {
  const sock = net.connect(port, '127.0.0.1');
  const ids = [11, 12, 13];
  const frames = ids.map((id) => {
    const q = encodeQuery(id === 12 ? 'nosuch.localhost' : 'blog.localhost', TYPE.A, { id });
    const f = Buffer.alloc(2 + q.length);
    f.writeUInt16BE(q.length, 0);
    q.copy(f, 2);
    return f;
  });
  sock.write(Buffer.concat(frames));
  let buf = Buffer.alloc(0);
  const got: Array<[number, number]> = [];
  await new Promise<void>((resolve, reject) => {
    sock.on('error', reject);
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const m = buf.subarray(2, 2 + buf.readUInt16BE(0));
        got.push([m.readUInt16BE(0), m.readUInt16BE(2) & 0x0f]);
        buf = buf.subarray(2 + m.length);
      }
      if (got.length === 3) resolve();
    });
  });
  sock.destroy();
  assert.deepEqual(got, [
    [11, 0],
    [12, 3],
    [13, 0],
  ]);
});

test('bad options fail at construction with the key', () => {
  const lookup = () => null;
  assert.throws(() => new DnsServer({ port: 0, domains: [], lookup }), InvalidInputError);
  assert.throws(() => new DnsServer({ port: 0, domains: ['bad domain'], lookup }), /dns\.domains/);
  assert.throws(() => new DnsServer({ port: 70000, domains: ['localhost'], lookup }), /dns\.port/);
  assert.throws(() => new DnsServer({ port: 0, domains: ['localhost'], lookup, ttl: -1 }), /dns\.ttl/);
  assert.throws(() => new DnsServer({ port: 0, host: 'nope', domains: ['localhost'], lookup }), /dns\.host/);
  assert.throws(() => new DnsServer({ port: 0, domains: ['localhost'] } as never), /dns\.lookup/);
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
  const s = new DnsServer({ port: port, domains: ['localhost'], lookup: () => null });
  await assert.rejects(s.listen(), /EADDRINUSE/);
});
