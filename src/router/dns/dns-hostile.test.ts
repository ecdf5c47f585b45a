// The summoning DNS server against what an attacker sends: malformed packets (no crash, FORMERR
// where there is a header, silence otherwise), spoofed floods (no amplification: without EDNS a
// UDP reply is never larger than its query), and TCP clients that hold connections open.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import { DnsServer, type DnsEvent } from './dns-server.js';
import { EDNS_UDP_SIZE, RCODE } from './dns-message.js';
import { dig, frame, header, query, rcodeOf, tcpClient, udpClient } from '../../testing/dns-clients.js';
import { waitFor } from '../../testing/wait.js';

const events: DnsEvent[] = [];
let server: DnsServer;
let port: number;

// Wired as `summon up` wires it: one address per app (the router's), the same for the apex.
before(async () => {
  server = new DnsServer({
    port: 0,
    domains: ['localhost', 'apps.example.com'],
    serverAddresses: { a: ['127.0.0.1'], aaaa: [] },
    lookup: (app) => (['a', 'blog', 'b'.repeat(30)].includes(app) ? { a: ['127.0.0.1'], aaaa: [] } : app === 'many' ? { a: Array.from({ length: 300 }, (_, i) => `10.0.${i >> 8}.${i & 0xff}`), aaaa: [] } : null),
    onLookup: () => {},
    onEvent: (e) => events.push(e),
    tcpIdleTimeout: 300,
  });
  ({ port } = await server.listen());
});
after(() => server.close());

const tail = Buffer.from([0, 1, 0, 1]); // qtype A, class IN
const q1 = (id: number, flags = 0x0100, ...body: Buffer[]) => Buffer.concat([header(id, flags, 1), ...body]);

test('malformed UDP: FORMERR/NOTIMP (12 bytes, the id, no question) where a header can be read, silence otherwise', async () => {
  const errors: Array<[string, Buffer, number]> = [
    ['header only, QDCOUNT 1', header(0x101, 0x0100, 1), RCODE.FORMERR],
    ['QDCOUNT 0', header(0x102, 0x0100, 0), RCODE.FORMERR],
    ['QDCOUNT 2', Buffer.concat([header(0x103, 0, 2), Buffer.from([1, 0x61, 0]), tail, Buffer.from([1, 0x62, 0]), tail]), RCODE.FORMERR],
    ['QDCOUNT 65535', Buffer.concat([header(0x104, 0, 65535), Buffer.from([1, 0x61, 0]), tail]), RCODE.FORMERR],
    ['pointer to itself', q1(0x105, 0, Buffer.from([0xc0, 12]), tail), RCODE.FORMERR],
    ['label, then a pointer back to it (a loop)', q1(0x106, 0, Buffer.from([1, 0x61, 0xc0, 12]), tail), RCODE.FORMERR],
    ['pointer past the end', q1(0x107, 0, Buffer.from([0xc3, 0xff]), tail), RCODE.FORMERR],
    ['pointer into the header', q1(0x0161, 0, Buffer.from([0xc0, 0]), tail), RCODE.FORMERR],
    ['label length 63 with 2 bytes after it', q1(0x108, 0, Buffer.from([63, 0x61, 0x62])), RCODE.FORMERR],
    ['label length byte 0xff', q1(0x109, 0, Buffer.from([0xff, 0x61, 0]), tail), RCODE.FORMERR],
    ['label length byte 0x7f', q1(0x10a, 0, Buffer.from([0x7f]), Buffer.alloc(127, 0x61), Buffer.from([0]), tail), RCODE.FORMERR],
    ['name of 320 bytes', q1(0x10b, 0, ...Array.from({ length: 5 }, () => Buffer.concat([Buffer.from([63]), Buffer.alloc(63, 0x61)])), Buffer.from([0]), tail), RCODE.FORMERR],
    ['question cut before its class', q1(0x10c, 0, Buffer.from([1, 0x61, 0, 0, 1])), RCODE.FORMERR],
    ['label holding a dot', q1(0x10d, 0, Buffer.from([6]), Buffer.from('a.blog'), Buffer.from([9]), Buffer.from('localhost'), Buffer.from([0]), tail), RCODE.FORMERR],
    ['label that is not UTF-8', q1(0x10e, 0, Buffer.from([2, 0xc3, 0x28, 9]), Buffer.from('localhost'), Buffer.from([0]), tail), RCODE.FORMERR],
    ['ANCOUNT 1 in a query', Buffer.concat([header(0x10f, 0, 1, 1), Buffer.from([1, 0x61, 0]), tail]), RCODE.FORMERR],
    ['ARCOUNT 65535', Buffer.concat([header(0x110, 0, 1, 0, 0, 65535), Buffer.from([1, 0x61, 0]), tail]), RCODE.FORMERR],
    ['OPT record cut short', Buffer.concat([header(0x111, 0, 1, 0, 0, 1), Buffer.from([1, 0x61, 0]), tail, Buffer.from([0, 0, 41, 4])]), RCODE.FORMERR],
    ['NOTIFY', (() => { const b = query('blog.localhost', 'A', { id: 0x112 }); b[2] |= 4 << 3; return b; })(), RCODE.NOTIMP],
    ['UPDATE', (() => { const b = query('blog.localhost', 'A', { id: 0x113 }); b[2] |= 5 << 3; return b; })(), RCODE.NOTIMP],
  ];
  const silent: Array<[string, Buffer]> = [
    ['empty', Buffer.alloc(0)],
    ['3 bytes', Buffer.from([0x12, 0x34, 0x01])],
    ['11 bytes', Buffer.alloc(11, 0x20)],
    ['a response', (() => { const b = query('blog.localhost', 'A', { id: 0x201 }); b[2] |= 0x80; return b; })()],
    ['a response of garbage', Buffer.concat([header(0x202, 0x8000, 9), Buffer.alloc(40, 0xc0)])],
  ];
  const c = await udpClient(port);
  try {
    for (const [what, b, rcode] of errors) {
      await c.send(b);
      const r = await c.reply(b.readUInt16BE(0));
      assert.equal(r.length, 12, what);
      assert.equal(r.readUInt16BE(2) & 0x800f, 0x8000 | rcode, what);
      assert.equal(r.readUInt16BE(4), 0, `${what}: no question`);
    }
    const before = c.replies.length;
    for (const [, b] of silent) await c.send(b);
    // Replies go out in order: once the probe's is here, none came for the silent ones.
    await c.send(query('blog.localhost', 'A', { id: 0x2ff, edns: 1232 }));
    assert.equal(rcodeOf(await c.reply(0x2ff)), RCODE.NOERROR);
    assert.equal(c.replies.length, before + 1, 'nothing for packets without a header, or for responses');
  } finally {
    await c.close();
  }
  assert.ok(!events.some((e) => e.name === 'dns.malformed' && e.reason.startsWith('internal')), JSON.stringify(events.slice(-3)));
});

test('fuzz: random packets and mutated queries never crash it, every reply is a response, none amplifies', async () => {
  let seed = 0x2545f491;
  const rnd = (n: number) => (((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) % n);
  const seeds = [
    query('blog.localhost', 'A'), query('Blog.Apps.Example.Com', 'AAAA', { edns: 4096 }), query('apps.example.com', 'NS', { edns: 1232 }),
    query('nosuch.apps.example.com', 'A'), query('a.localhost', 'ANY', { edns: 512 }), query('example.com', 'SOA'),
  ];
  const sent = new Map<number, Buffer>();
  const c = await udpClient(port);
  try {
    for (let i = 0; i < 6000; i++) {
      let b: Buffer;
      if (i % 2 === 0) {
        b = Buffer.alloc(rnd(300));
        for (let k = 0; k < b.length; k++) b[k] = rnd(256);
        // Half of them with a plausible header, so the name parser gets exercised too.
        if (b.length >= 13 && i % 4 === 0) {
          b.writeUInt16BE(0x0100, 2);
          b.writeUInt16BE(1, 4);
          b[12] = rnd(2) ? rnd(64) : 0xc0 | rnd(64);
        }
      } else {
        b = Buffer.from(seeds[rnd(seeds.length)]);
        for (let flips = 1 + rnd(4); flips > 0; flips--) b[2 + rnd(b.length - 2)] = rnd(256);
        if (rnd(4) === 0) b = b.subarray(0, rnd(b.length));
      }
      const id = 0x1000 + i;
      if (b.length >= 2) b.writeUInt16BE(id, 0);
      sent.set(id, b);
      await c.send(b);
      // A probe every 200 packets keeps the socket buffers from overflowing (UDP drops
      // silently) and shows the server is still answering part-way through.
      if (i % 200 === 199) {
        await c.send(query('blog.localhost', 'A', { id: 0x8000 + i, edns: 1232 }));
        assert.equal((await c.reply(0x8000 + i)).readUInt16BE(6), 1);
      }
    }
    for (const m of c.replies) {
      assert.ok(m.length >= 12 && (m.readUInt16BE(2) & 0x8000) !== 0, 'a well-formed response');
      const id = m.readUInt16BE(0);
      const q = sent.get(id);
      if (!q) continue; // a probe
      if (m.length > q.length) {
        const opt = dnsPacket.decode(m).additionals?.some((a) => a.type === 'OPT');
        assert.ok(opt && m.length <= EDNS_UDP_SIZE, `reply to ${q.toString('hex')} is ${m.length} bytes, the query ${q.length}, and the query had no EDNS`);
      }
    }
  } finally {
    await c.close();
  }
  assert.ok(c.replies.length > 1000, `${c.replies.length} replies`);
  assert.ok(!events.some((e) => e.name === 'dns.malformed' && e.reason.startsWith('internal')), 'no internal errors');
});

test('amplification: without EDNS a UDP reply is at most the query (ratio ≤ 1); with EDNS at most 1232 bytes, and < 4× with one address per app', async () => {
  const names = ['a.localhost', 'blog.localhost', `${'b'.repeat(30)}.localhost`, 'nosuch.localhost', 'x.y.localhost', 'localhost',
    'a.apps.example.com', 'nosuch.apps.example.com', 'apps.example.com', 'z.z.apps.example.com', 'example.com', '.', 'many.localhost', 'many.apps.example.com'];
  const types: Array<dnsPacket.RecordType | 'ANY'> = ['A', 'AAAA', 'NS', 'SOA', 'TXT', 'MX', 'AXFR', 'CNAME', 'ANY'];
  const c = await udpClient(port);
  let id = 0x3000;
  let worstPlain = 0;
  let worstEdns = 0;
  let worstEdnsWhat = '';
  try {
    for (const name of names) {
      for (const type of types) {
        for (const edns of [undefined, 512, 1232, 4096, 65535]) {
          const q = query(name, type, { id: ++id, edns });
          await c.send(q);
          const r = await c.reply(id);
          const ratio = r.length / q.length;
          if (edns === undefined) {
            assert.ok(r.length <= q.length, `${name} ${type}: ${r.length} bytes for a ${q.length}-byte query`);
            worstPlain = Math.max(worstPlain, ratio);
          } else {
            assert.ok(r.length <= Math.max(512, Math.min(edns, EDNS_UDP_SIZE)), `${name} ${type} bufsize ${edns}: ${r.length} bytes`);
            // `many` answers 300 addresses: truncated, so it cannot amplify either.
            if (ratio > worstEdns) [worstEdns, worstEdnsWhat] = [ratio, `${name} ${type} (${q.length} → ${r.length})`];
          }
        }
      }
    }
  } finally {
    await c.close();
  }
  assert.ok(worstPlain <= 1, String(worstPlain));
  // The worst is a negative answer at the apex: its SOA names the zone three times (dns-packet
  // does not compress), so 4w + 68 bytes for a (w + 27)-byte query, w the zone's wire length:
  // below 4× for any w, 3.1× for apps.example.com.
  assert.ok(worstEdns < 4, `worst with EDNS: ${worstEdns.toFixed(2)}× for ${worstEdnsWhat}`);
});

test('TCP: several queries in one write, and one split byte by byte, answered in order on one connection', async () => {
  const c = await tcpClient(port);
  try {
    const ids = [11, 12, 13];
    c.sock.write(Buffer.concat(ids.map((id) => frame(query(id === 12 ? 'nosuch.localhost' : 'blog.localhost', 'A', { id })))));
    const got = await c.waitReplies(3);
    assert.deepEqual(got.map((m) => [m.readUInt16BE(0), m.readUInt16BE(2) & 0x0f]), [[11, 0], [12, 3], [13, 0]]);
    const split = frame(query('many.localhost', 'A', { id: 14 }));
    for (const byte of split) c.sock.write(Buffer.from([byte]));
    const [, , , many] = await c.waitReplies(4);
    assert.equal(many.readUInt16BE(0), 14);
    assert.equal(dnsPacket.decode(many).answers?.length, 300, 'all 300 addresses: TCP has room');
    // A FORMERR is an answer: the stream stays in step and the connection open.
    c.send(header(15, 0x0100, 0));
    c.send(query('blog.localhost', 'A', { id: 16 }));
    const r = await c.waitReplies(6);
    assert.deepEqual(r.slice(4).map((m) => [m.readUInt16BE(0), m.readUInt16BE(2) & 0x0f]), [[15, RCODE.FORMERR], [16, 0]]);
  } finally {
    c.sock.destroy();
  }
});

test('TCP garbage: the connection is closed, the server goes on', async () => {
  for (const junk of [Buffer.from([0, 5, 1, 2, 3, 4, 5]), Buffer.from([0, 0]), Buffer.alloc(70_000, 0xc0)]) {
    const c = await tcpClient(port);
    c.sock.write(junk);
    await c.closed;
  }
  const d = await dig(port, 'blog.localhost', 'A', '+tcp');
  assert.equal(d.status, 'NOERROR');
});

test('TCP: a length and then nothing, a byte at a time, or replies never read: closed at the idle timeout', async (t) => {
  const timeouts = () => events.filter((e) => e.name === 'dns.tcp_timeout').length;
  const start = timeouts();

  const silent = await tcpClient(port);
  t.after(() => silent.sock.destroy());
  silent.sock.write(Buffer.from([0, 40]));

  const trickle = await tcpClient(port);
  t.after(() => trickle.sock.destroy());
  const body = frame(query('blog.localhost', 'A', { id: 1 }));
  let at = 0;
  // One byte every 50 ms: activity all along, yet no message completes within 300 ms.
  const timer = setInterval(() => at < body.length && !trickle.sock.destroyed && trickle.sock.write(body.subarray(at, ++at)), 50);
  t.after(() => clearInterval(timer));

  // A client that asks and never reads: the replies fill the buffers, we stop reading it.
  const deaf = await tcpClient(port);
  t.after(() => deaf.sock.destroy());
  deaf.sock.pause();
  const burst = frame(query('many.localhost', 'A', { id: 2 }));
  deaf.sock.write(Buffer.concat(Array.from({ length: 3000 }, () => burst)));

  await Promise.all([silent.closed, trickle.closed]);
  assert.ok(at < body.length, `the trickle was cut before it finished (${at} of ${body.length} bytes)`);
  await waitFor(() => timeouts() - start >= 3, { timeoutMs: 10_000, what: 'three idle timeouts' });
});

test('TCP: connections are bounded; past the bound new ones are closed, and a freed slot is usable again', async (t) => {
  // Its own server: the shared one's 300 ms idle timeout would free slots while we count them.
  const bounded = new DnsServer({ port: 0, domains: ['localhost'], lookup: () => ({ a: ['127.0.0.1'], aaaa: [] }), maxTcpConnections: 4, tcpIdleTimeout: 60_000 });
  const { port: p } = await bounded.listen();
  t.after(() => bounded.close());
  const held = [];
  for (let i = 0; i < 4; i++) {
    const c = await tcpClient(p);
    t.after(() => c.sock.destroy());
    // An answer proves the server counts this connection.
    c.send(query('blog.localhost', 'A', { id: i }));
    await c.waitReplies(1);
    held.push(c);
  }
  const extra = await tcpClient(p);
  t.after(() => extra.sock.destroy());
  await extra.closed;
  assert.equal(extra.replies.length, 0);
  for (const c of held) assert.equal(c.sock.destroyed, false, 'the four held connections are still open');
  for (const c of held) c.sock.destroy();
  await waitFor(async () => {
    const c = await tcpClient(p);
    try {
      c.send(query('blog.localhost', 'A', { id: 99 }));
      return (await c.waitReplies(1).catch(() => [])).length === 1;
    } finally {
      c.sock.destroy();
    }
  }, { timeoutMs: 5000, what: 'a connection to be accepted again' });
});
