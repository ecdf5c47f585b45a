import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Query, RCODE, TYPE, encodeQuery, encodeResponse, ipv4Bytes, ipv6Bytes, parseQuery, udpLimit } from './dns-wire.js';

function header(id: number, qdcount = 1, flags = 0x0100): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(id, 0);
  h.writeUInt16BE(flags, 2);
  h.writeUInt16BE(qdcount, 4);
  return h;
}
const tail = Buffer.from([0, 1, 0, 1]); // qtype A, class IN

test('parses a plain query and keeps the labels', () => {
  const q = new Query();
  assert.equal(parseQuery(encodeQuery('Blog.Apps.Test.', TYPE.AAAA, { id: 77 }), q), 'ok');
  assert.equal(q.id, 77);
  assert.equal(q.qtype, TYPE.AAAA);
  assert.equal(q.qclass, 1);
  assert.equal(q.labelCount, 3);
  assert.equal(q.name(), 'blog.apps.test');
  assert.equal(q.labelEquals(1, Buffer.from('apps')), true);
  assert.equal(q.labelEquals(1, Buffer.from('app')), false);
  assert.equal(q.edns, false);
  assert.equal(udpLimit(q), 512);
});

test('reads EDNS from the additional section', () => {
  const q = new Query();
  assert.equal(parseQuery(encodeQuery('blog.test', TYPE.A, { edns: 4096 }), q), 'ok');
  assert.equal(q.edns, true);
  assert.equal(q.ednsUdpSize, 4096);
  assert.equal(q.ednsVersion, 0);
  assert.equal(udpLimit(q), 1232);
});

test('two OPT records are a format error', () => {
  const one = encodeQuery('blog.test', TYPE.A, { edns: 1232 });
  const opt = one.subarray(one.length - 11);
  const two = Buffer.concat([one, opt]);
  two.writeUInt16BE(2, 10);
  assert.equal(parseQuery(two, new Query()), 'formerr');
});

test('drops packets shorter than a header and responses', () => {
  const q = new Query();
  assert.equal(parseQuery(Buffer.alloc(0), q), 'drop');
  assert.equal(parseQuery(Buffer.from([1, 2, 3, 4, 5]), q), 'drop');
  const resp = encodeQuery('blog.test', TYPE.A);
  resp[2] |= 0x80;
  assert.equal(parseQuery(resp, q), 'drop');
});

test('other opcodes are not implemented; question counts other than 1 are format errors', () => {
  const q = new Query();
  const notify = encodeQuery('blog.test', TYPE.A, { id: 9 });
  notify[2] |= 4 << 3;
  assert.equal(parseQuery(notify, q), 'notimp');
  assert.equal(q.id, 9);
  assert.equal(parseQuery(header(1, 0), q), 'formerr');
  assert.equal(parseQuery(Buffer.concat([header(1, 2), Buffer.from([0]), tail, Buffer.from([0]), tail]), q), 'formerr');
});

test('a pointer to itself is a format error, not a loop', () => {
  const q = new Query();
  assert.equal(parseQuery(Buffer.concat([header(5), Buffer.from([0xc0, 12]), tail]), q), 'formerr');
  assert.match(q.reason, /pointer/);
  assert.equal(q.id, 5);
});

test('a label then a pointer back to that label is a format error', () => {
  const pkt = Buffer.concat([header(6), Buffer.from([1, 0x61, 0xc0, 12]), tail]);
  assert.equal(parseQuery(pkt, new Query()), 'formerr');
});

test('pointers forward or into the header are format errors', () => {
  const fwd = Buffer.concat([header(7), Buffer.from([0xc0, 20, 0, 0, 0, 0, 0, 0, 1, 0x61, 0]), tail]);
  assert.equal(parseQuery(fwd, new Query()), 'formerr');
  const intoHeader = Buffer.concat([header(7), Buffer.from([0xc0, 2]), tail]);
  assert.equal(parseQuery(intoHeader, new Query()), 'formerr');
});

test('truncated names, labels, questions and reserved label types are format errors', () => {
  const q = new Query();
  assert.equal(parseQuery(Buffer.concat([header(1), Buffer.from([5, 0x61])]), q), 'formerr');
  assert.equal(parseQuery(Buffer.concat([header(1), Buffer.from([1, 0x61])]), q), 'formerr');
  assert.equal(parseQuery(Buffer.concat([header(1), Buffer.from([1, 0x61, 0, 0, 1])]), q), 'formerr');
  assert.equal(parseQuery(Buffer.concat([header(1), Buffer.from([0xc0])]), q), 'formerr');
  assert.equal(parseQuery(Buffer.concat([header(1), Buffer.from([0x41, 0]), tail]), q), 'formerr');
});

test('names longer than 255 bytes are format errors', () => {
  const label = Buffer.concat([Buffer.from([63]), Buffer.alloc(63, 0x61)]);
  const long = Buffer.concat([header(1), label, label, label, label, Buffer.from([0]), tail]);
  assert.equal(parseQuery(long, new Query()), 'formerr');
  const ok = Buffer.concat([header(1), label, label, label, Buffer.from([0]), tail]);
  assert.equal(parseQuery(ok, new Query()), 'ok');
});

test('a response echoes the question in the client\'s case and points answers at it', () => {
  const q = new Query();
  parseQuery(encodeQuery('BlOg.test', TYPE.A, { id: 0xbeef }), q);
  const r = encodeResponse(q, {
    rcode: RCODE.NOERROR,
    aa: true,
    question: true,
    answers: [{ type: TYPE.A, data: ipv4Bytes('10.0.0.1')! }],
    ttl: 5,
    maxSize: 512,
  });
  assert.equal(r.readUInt16BE(0), 0xbeef);
  const flags = r.readUInt16BE(2);
  assert.equal(flags & 0x8000, 0x8000, 'QR');
  assert.equal(flags & 0x0400, 0x0400, 'AA');
  assert.equal(flags & 0x0100, 0x0100, 'RD copied');
  assert.equal(flags & 0x0080, 0, 'RA clear');
  assert.equal(flags & 0x0f, 0);
  assert.equal(r.readUInt16BE(6), 1);
  assert.equal(r.toString('latin1', 13, 17), 'BlOg');
  const ans = 12 + q.nameLen + 4;
  assert.equal(r.readUInt16BE(ans), 0xc00c);
  assert.equal(r.readUInt32BE(ans + 6), 5);
  assert.deepEqual([...r.subarray(ans + 12, ans + 16)], [10, 0, 0, 1]);
  assert.equal(r.length, ans + 16);
});

test('answers that do not fit are left out and TC is set; OPT stays', () => {
  const q = new Query();
  parseQuery(encodeQuery('blog.test', TYPE.A, { edns: 512 }), q);
  const answers = Array.from({ length: 100 }, (_, i) => ({ type: TYPE.A, data: ipv4Bytes(`10.0.0.${i}`)! }));
  const r = encodeResponse(q, { rcode: 0, aa: true, question: true, answers, ttl: 5, maxSize: udpLimit(q) });
  assert.ok(r.length <= 512);
  assert.equal(r.readUInt16BE(2) & 0x0200, 0x0200);
  const n = r.readUInt16BE(6);
  assert.ok(n > 0 && n < 100);
  assert.equal(r.readUInt16BE(10), 1);
  assert.equal(r.readUInt16BE(r.length - 10), TYPE.OPT);
});

test('BADVERS goes into the OPT extended rcode; TCP prefix carries the length', () => {
  const q = new Query();
  parseQuery(encodeQuery('blog.test', TYPE.A, { edns: 1232 }), q);
  const r = encodeResponse(q, { rcode: RCODE.BADVERS, aa: false, question: true, maxSize: 65535, prefix: 2 });
  assert.equal(r.readUInt16BE(0), r.length - 2);
  assert.equal(r.readUInt16BE(4) & 0x0f, 0);
  assert.equal(r[r.length - 6], 1); // extended rcode 16 >> 4
});

test('parses IPv4 and IPv6 addresses, rejects the rest', () => {
  assert.deepEqual([...ipv4Bytes('127.0.0.1')!], [127, 0, 0, 1]);
  assert.equal(ipv4Bytes('256.0.0.1'), null);
  assert.equal(ipv4Bytes('1.2.3'), null);
  assert.equal(ipv4Bytes('01.2.3.4'), null);
  const hex = (s: string) => Buffer.from(ipv6Bytes(s) ?? []).toString('hex');
  assert.equal(hex('::1'), '00000000000000000000000000000001');
  assert.equal(hex('::'), '00000000000000000000000000000000');
  assert.equal(hex('fe80::1%eth0'), 'fe800000000000000000000000000001');
  assert.equal(hex('2001:db8::8:800:200c:417a'), '20010db8000000000008080020 0c417a'.replace(' ', ''));
  assert.equal(hex('::ffff:192.0.2.1'), '00000000000000000000ffffc0000201');
  assert.equal(hex('1:2:3:4:5:6:7:8'), '00010002000300040005000600070008');
  for (const bad of ['1::2::3', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '12345::', 'g::', '1.2.3.4::', '1:2:3:4:5:6:7::8']) {
    assert.equal(ipv6Bytes(bad), null, bad);
  }
});
