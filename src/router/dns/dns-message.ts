// DNS messages for the summoning server, over dns-packet: parse one query, write one reply.
// dns-packet decodes and encodes; what is here is the part it leaves to its caller when the
// input is hostile and the output must never be larger than it may be:
//
//   - the header counts are checked before decoding (dns-packet allocates an array per count);
//   - the question name must survive dns-packet's decode → encode round trip byte for byte.
//     It decodes labels as UTF-8 and joins them with dots, so a label holding a dot, bytes
//     that are not UTF-8, or a compression pointer in the question would come back as a
//     different (possibly longer) name: such a query is a FORMERR, never an answer about some
//     other name, and the question we echo is exactly the one we were sent;
//   - qtype and qclass are read and echoed as numbers (dns-packet turns unknown classes into 0);
//   - a reply that does not fit its limit is cut to header + question (+ OPT), with TC set.
//
// Compression pointers need no guard here: dns-packet only follows a pointer to an offset
// before the one it jumped from, so a pointer loop ends, and one past the end throws.

import dnsPacket from 'dns-packet';

export const QTYPE = { A: 1, NS: 2, SOA: 6, AAAA: 28, OPT: 41, IXFR: 251, AXFR: 252, ANY: 255 } as const;
export const CLASS_IN = 1;
export const CLASS_ANY = 255;

export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  /** Extended rcode (EDNS): the query's EDNS version is not supported. */
  BADVERS: 16,
} as const;

/** The UDP payload size we advertise and accept: the DNS flag day 2020 value, safe from fragmentation. */
export const EDNS_UDP_SIZE = 1232;
/** Without EDNS a UDP reply is at most this (RFC 1035) — and at most the query's own size, see udpLimit. */
export const PLAIN_UDP_SIZE = 512;
export const TCP_MAX = 65535;
const HEADER_LEN = 12;
/** A query carries an OPT and perhaps a TSIG; more additional records than this is not a query of ours. */
const MAX_ADDITIONALS = 4;

const FLAG_QR = 0x8000;
const FLAG_RD = 0x0100;
const FLAG_CD = 0x0010;

export interface DnsQuery {
  id: number;
  /** The header's flags word as sent (QR clear). */
  flags: number;
  /** The question name as sent (letter case kept: resolvers using 0x20 randomisation check it), '.' for the root. */
  name: string;
  /** Its labels, ASCII letters lower-cased (DNS compares names that way, and only that way). */
  labels: string[];
  qtype: number;
  qclass: number;
  edns: { udpSize: number; version: number } | null;
  /** Bytes the query took on the wire. */
  size: number;
  /** Wire length of the question name, root byte included. */
  nameLength: number;
}

/** What to do with a message: answer the query, answer with an error header, or stay silent. */
export type Parsed =
  | { kind: 'query'; query: DnsQuery }
  | { kind: 'error'; id: number; flags: number; rcode: number; reason: string }
  | { kind: 'drop'; reason: string };

export function parseQuery(msg: Buffer): Parsed {
  // Shorter than a header there is no id to answer to; a response is never answered, or two
  // servers could be made to answer each other forever.
  if (msg.length < HEADER_LEN) return { kind: 'drop', reason: 'shorter than a DNS header' };
  const id = msg.readUInt16BE(0);
  const flags = msg.readUInt16BE(2);
  if (flags & FLAG_QR) return { kind: 'drop', reason: 'a response, not a query' };
  const error = (rcode: number, reason: string): Parsed => ({ kind: 'error', id, flags, rcode, reason });
  const opcode = (flags >> 11) & 0x0f;
  if (opcode !== 0) return error(RCODE.NOTIMP, `opcode ${opcode} not implemented`);
  const qdcount = msg.readUInt16BE(4);
  if (qdcount !== 1) return error(RCODE.FORMERR, `${qdcount} questions, expected 1`);
  if (msg.readUInt16BE(6) !== 0 || msg.readUInt16BE(8) !== 0) return error(RCODE.FORMERR, 'a query with answer or authority records');
  if (msg.readUInt16BE(10) > MAX_ADDITIONALS) return error(RCODE.FORMERR, `more than ${MAX_ADDITIONALS} additional records`);

  let packet: dnsPacket.DecodedPacket;
  try {
    packet = dnsPacket.decode(msg);
  } catch (e) {
    return error(RCODE.FORMERR, (e as Error)?.message ?? 'undecodable');
  }
  const question = packet.questions?.[0];
  if (!question || typeof question.name !== 'string') return error(RCODE.FORMERR, 'no question');
  const name = question.name;
  const wire = encodeName(name);
  if (wire === null || wire.length + HEADER_LEN + 4 > msg.length || !msg.subarray(HEADER_LEN, HEADER_LEN + wire.length).equals(wire)) {
    return error(RCODE.FORMERR, 'question name is compressed, or holds bytes we cannot echo exactly');
  }
  const at = HEADER_LEN + wire.length;

  let edns: DnsQuery['edns'] = null;
  for (const rr of packet.additionals ?? []) {
    if (rr.type !== 'OPT') continue;
    if (edns) return error(RCODE.FORMERR, 'more than one OPT record');
    if (rr.name !== '.') return error(RCODE.FORMERR, 'OPT record with a name other than the root');
    edns = { udpSize: rr.udpPayloadSize, version: rr.ednsVersion };
  }
  return {
    kind: 'query',
    query: {
      id, flags, name, labels: name === '.' ? [] : asciiLower(name).split('.'),
      qtype: msg.readUInt16BE(at), qclass: msg.readUInt16BE(at + 2),
      edns, size: msg.length, nameLength: wire.length,
    },
  };
}

/**
 * The largest UDP reply to `q`. With EDNS: the client's size, at least 512, at most ours.
 * Without: 512, and never more than the query itself, so a spoofed query cannot make us
 * send its victim more bytes than it sent us (anything larger goes out as TC, and the
 * client asks again over TCP, which cannot be spoofed).
 */
export function udpLimit(q: DnsQuery): number {
  if (!q.edns) return Math.min(PLAIN_UDP_SIZE, q.size);
  return Math.max(PLAIN_UDP_SIZE, Math.min(q.edns.udpSize, EDNS_UDP_SIZE));
}

export interface Reply {
  rcode: number;
  /** Authoritative: set for names in our zones. RA is never set: we do not recurse. */
  aa: boolean;
  answers?: dnsPacket.Answer[];
  authorities?: dnsPacket.Answer[];
  additionals?: dnsPacket.Answer[];
}

/**
 * The reply to `q`, at most `limit` bytes: when the records do not fit, they are all left out
 * and TC is set (a resolver discards a truncated reply and retries over TCP anyway), so the
 * reply is then header + question + OPT — never larger than the query was. Null only if even
 * that would not fit, which the callers' limits rule out; it keeps the bound a fact of this
 * function rather than of its callers.
 */
export function encodeReply(q: DnsQuery, r: Reply, limit: number): Buffer | null {
  let flags = (q.flags & (0x7800 | FLAG_RD | FLAG_CD)) | (r.rcode & 0x0f);
  if (r.aa) flags |= dnsPacket.AUTHORITATIVE_ANSWER;
  const packet: dnsPacket.Packet = {
    type: 'response',
    id: q.id,
    flags,
    // The type here is a placeholder: the question's type and class are written as numbers below.
    questions: [{ name: q.name, type: 'A' }],
    answers: r.answers ?? [],
    authorities: r.authorities ?? [],
    additionals: [...(r.additionals ?? []), ...(q.edns ? [opt(r.rcode)] : [])],
  };
  if (dnsPacket.encodingLength(packet) > limit) {
    packet.flags = flags | dnsPacket.TRUNCATED_RESPONSE;
    packet.answers = [];
    packet.authorities = [];
    packet.additionals = q.edns ? [opt(r.rcode)] : [];
    if (dnsPacket.encodingLength(packet) > limit) return null;
  }
  const out = dnsPacket.encode(packet);
  out.writeUInt16BE(q.qtype, HEADER_LEN + q.nameLength);
  out.writeUInt16BE(q.qclass, HEADER_LEN + q.nameLength + 2);
  return out;
}

/** A header-only reply (FORMERR, NOTIMP) to a message whose question could not be used: 12 bytes. */
export function encodeError(id: number, queryFlags: number, rcode: number): Buffer {
  return dnsPacket.encode({ type: 'response', id, flags: (queryFlags & (0x7800 | FLAG_RD | FLAG_CD)) | (rcode & 0x0f) });
}

/** Our OPT record: our UDP size, the upper bits of the rcode, version 0, DO clear (we do not sign). */
function opt(rcode: number): dnsPacket.OptAnswer {
  return { type: 'OPT', name: '.', udpPayloadSize: EDNS_UDP_SIZE, extendedRcode: rcode >> 4, ednsVersion: 0, flags: 0, flag_do: false, options: [] };
}

/** The wire form dns-packet writes for `name` (as the question of an empty query), or null. */
function encodeName(name: string): Buffer | null {
  try {
    const b = dnsPacket.encode({ type: 'query', id: 0, flags: 0, questions: [{ name, type: 'A' }] });
    return b.subarray(HEADER_LEN, b.length - 4);
  } catch {
    return null;
  }
}

/** Lower-cases A-Z only: String#toLowerCase also maps some non-ASCII letters (K, the Kelvin sign) to ASCII. */
function asciiLower(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}
