import { test } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import { EDNS_UDP_SIZE, QTYPE, RCODE, type DnsQuery, encodeError, encodeReply, parseQuery, udpLimit } from './dns-message.js';
import { header, query } from '../../testing/dns-clients.js';

const tail = Buffer.from([0, 1, 0, 1]); // qtype A, class IN

function parsed(msg: Buffer): DnsQuery {
  const p = parseQuery(msg);
  assert.equal(p.kind, 'query', JSON.stringify(p));
  return (p as { query: DnsQuery }).query;
}
function error(msg: Buffer): { rcode: number; reason: string; id: number } {
  const p = parseQuery(msg);
  assert.equal(p.kind, 'error', JSON.stringify(p));
  return p as { rcode: number; reason: string; id: number };
}

test('parses a plain query: the name as sent, labels lower-cased, type and class as numbers', () => {
  const q = parsed(query('Blog.Apps.Test.', 'AAAA', { id: 77 }));
  assert.equal(q.id, 77);
  assert.equal(q.name, 'Blog.Apps.Test');
  assert.deepEqual(q.labels, ['blog', 'apps', 'test']);
  assert.equal(q.qtype, QTYPE.AAAA);
  assert.equal(q.qclass, 1);
  assert.equal(q.edns, null);
  assert.equal(q.nameLength, 16);
  assert.equal(q.size, 12 + 16 + 4);
});

test('reads EDNS from the additional section; the UDP limit follows it', () => {
  const q = parsed(query('blog.test', 'A', { edns: 4096 }));
  assert.deepEqual(q.edns, { udpSize: 4096, version: 0 });
  assert.equal(udpLimit(q), EDNS_UDP_SIZE);
  assert.equal(udpLimit(parsed(query('blog.test', 'A', { edns: 100 }))), 512, 'below 512 counts as 512 (RFC 6891)');
  assert.equal(udpLimit(parsed(query('blog.test', 'A', { edns: 800 }))), 800);
});

test('without EDNS the UDP limit is the query itself, never above 512', () => {
  const q = parsed(query('blog.test', 'A'));
  assert.equal(udpLimit(q), q.size);
  const long = parsed(query(`${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`, 'A'));
  assert.equal(udpLimit(long), 271);
});

test('unknown types and classes survive into the echoed question', () => {
  const msg = query('blog.test', 'A', { id: 5 });
  msg.writeUInt16BE(65280, msg.length - 4); // a private-use type
  msg.writeUInt16BE(7, msg.length - 2); // an unassigned class
  const q = parsed(msg);
  assert.equal(q.qtype, 65280);
  assert.equal(q.qclass, 7);
  const out = encodeReply(q, { rcode: RCODE.REFUSED, aa: false }, 512)!;
  assert.deepEqual(out.subarray(12), msg.subarray(12), 'question echoed byte for byte');
  assert.equal(out.length, msg.length);
});

test('drops what is not a query: short packets and responses', () => {
  for (const b of [Buffer.alloc(0), Buffer.from([1, 2, 3]), Buffer.alloc(11)]) assert.equal(parseQuery(b).kind, 'drop');
  const resp = query('blog.test', 'A');
  resp[2] |= 0x80;
  assert.equal(parseQuery(resp).kind, 'drop');
});

test('format errors keep the id; other opcodes are NOTIMP', () => {
  const notify = query('blog.test', 'A', { id: 9 });
  notify[2] |= 4 << 3;
  assert.deepEqual([error(notify).rcode, error(notify).id], [RCODE.NOTIMP, 9]);
  const cases: Array<[string, Buffer]> = [
    ['no question', header(1, 0, 0)],
    ['two questions', Buffer.concat([header(1, 0, 2), Buffer.from([1, 0x61, 0]), tail, Buffer.from([1, 0x62, 0]), tail])],
    ['header says one question, none there', header(1, 0, 1)],
    ['pointer to itself', Buffer.concat([header(1, 0, 1), Buffer.from([0xc0, 12]), tail])],
    ['label then pointer back to it', Buffer.concat([header(1, 0, 1), Buffer.from([1, 0x61, 0xc0, 12]), tail])],
    ['pointer past the end', Buffer.concat([header(1, 0, 1), Buffer.from([0xc3, 0xff]), tail])],
    ['pointer into the header', Buffer.concat([header(0x0161, 0, 1), Buffer.from([0xc0, 0]), tail])],
    ['label longer than the packet', Buffer.concat([header(1, 0, 1), Buffer.from([63, 0x61, 0x62])])],
    ['reserved label type 0x40', Buffer.concat([header(1, 0, 1), Buffer.from([0x41, 0x61, 0]), tail])],
    ['reserved label type 0x80', Buffer.concat([header(1, 0, 1), Buffer.from([0x81, 0x61, 0]), tail])],
    ['name past 255 bytes', Buffer.concat([header(1, 0, 1), ...Array.from({ length: 5 }, () => Buffer.concat([Buffer.from([63]), Buffer.alloc(63, 0x61)])), Buffer.from([0]), tail])],
    ['question truncated before its class', Buffer.concat([header(1, 0, 1), Buffer.from([1, 0x61, 0, 0, 1])])],
    ['a label holding a dot', Buffer.concat([header(1, 0, 1), Buffer.from([6]), Buffer.from('a.test'), Buffer.from([0]), tail])],
    ['bytes that are not UTF-8', Buffer.concat([header(1, 0, 1), Buffer.from([3, 0xff, 0xfe, 0x80, 4]), Buffer.from('test'), Buffer.from([0]), tail])],
    ['an answer record in a query', Buffer.concat([header(1, 0, 1, 1), Buffer.from([1, 0x61, 0]), tail])],
    ['65535 additional records', Buffer.concat([header(1, 0, 1, 0, 0, 65535), Buffer.from([1, 0x61, 0]), tail])],
    ['additional record truncated', Buffer.concat([header(1, 0, 1, 0, 0, 1), Buffer.from([1, 0x61, 0]), tail, Buffer.from([0, 0, 41])])],
  ];
  for (const [what, b] of cases) assert.equal(error(b).rcode, RCODE.FORMERR, what);
});

test('EDNS: two OPT records, or an OPT not at the root, are format errors', () => {
  const one = query('blog.test', 'A', { edns: 1232 });
  const opt = one.subarray(one.length - 11);
  const two = Buffer.concat([one, opt]);
  two.writeUInt16BE(2, 10);
  assert.equal(error(two).rcode, RCODE.FORMERR);
  const named = Buffer.concat([one.subarray(0, one.length - 11), Buffer.from([1, 0x78]), opt]);
  assert.equal(error(named).rcode, RCODE.FORMERR);
});

test('a reply echoes id, opcode, RD and CD, sets QR and AA, never RA', () => {
  const msg = query('Blog.Test', 'A', { id: 4242 });
  msg.writeUInt16BE(msg.readUInt16BE(2) | 0x0010, 2); // CD
  const q = parsed(msg);
  const out = encodeReply(q, { rcode: RCODE.NOERROR, aa: true, answers: [{ type: 'A', name: q.name, ttl: 5, data: '10.0.0.1' }] }, 512)!;
  const d = dnsPacket.decode(out);
  assert.equal(d.id, 4242);
  assert.ok(d.flag_qr && d.flag_aa && d.flag_rd && d.flag_cd);
  assert.ok(!d.flag_ra && !d.flag_tc);
  assert.equal(d.questions?.[0].name, 'Blog.Test');
  assert.deepEqual(d.answers?.map((a) => [a.type, (a as dnsPacket.StringAnswer).data, (a as dnsPacket.StringAnswer).ttl]), [['A', '10.0.0.1', 5]]);
  const norec = encodeReply(parsed(query('blog.test', 'A', { rd: false })), { rcode: 0, aa: true }, 512)!;
  assert.equal(dnsPacket.decode(norec).flag_rd, false);
});

test('EDNS: OPT is echoed with our UDP size; the extended rcode goes in it', () => {
  const q = parsed(query('blog.test', 'A', { edns: 4096, ednsVersion: 1 }));
  const out = encodeReply(q, { rcode: RCODE.BADVERS, aa: false }, udpLimit(q))!;
  assert.equal(out.readUInt16BE(2) & 0x0f, 0);
  const opt = dnsPacket.decode(out).additionals?.[0] as dnsPacket.OptAnswer;
  assert.deepEqual([opt.type, opt.udpPayloadSize, opt.extendedRcode, opt.ednsVersion, opt.flag_do], ['OPT', EDNS_UDP_SIZE, 1, 0, false]);
});

test('records past the limit: all are left out and TC is set; the reply is no larger than the query', () => {
  for (const edns of [undefined, 1232]) {
    const msg = query('many.test', 'A', { id: 3, edns });
    const q = parsed(msg);
    const answers = Array.from({ length: 200 }, (_, i): dnsPacket.Answer => ({ type: 'A', name: q.name, ttl: 5, data: `10.0.${i >> 8}.${i & 0xff}` }));
    const out = encodeReply(q, { rcode: 0, aa: true, answers }, udpLimit(q))!;
    const d = dnsPacket.decode(out);
    assert.ok(d.flag_tc, 'TC');
    assert.equal(d.answers?.length, 0);
    assert.equal(out.length, msg.length, 'header + question (+ OPT): exactly the query size');
    const full = encodeReply(q, { rcode: 0, aa: true, answers }, 65535)!;
    assert.equal(dnsPacket.decode(full).answers?.length, 200, 'over TCP all of them');
  }
});

test('an error reply is a 12-byte header with the id, RD echoed and the rcode', () => {
  const out = encodeError(0xbeef, 0x0100, RCODE.FORMERR);
  assert.equal(out.length, 12);
  assert.equal(out.readUInt16BE(0), 0xbeef);
  assert.equal(out.readUInt16BE(2), 0x8000 | 0x0100 | RCODE.FORMERR);
  assert.equal(out.readUInt16BE(4), 0);
});
