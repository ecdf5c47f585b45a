// DNS wire format (RFC 1035, EDNS from RFC 6891), just what an authoritative server for
// app names needs: parse one query, write one response. Written for hostile input: every
// read is bounds-checked, compression pointers must point strictly backwards (each jump
// before the previous one), so a pointer loop cannot spin, and the parser fills a
// caller-owned `Query` so a busy server allocates almost nothing per packet.

export const TYPE = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  OPT: 41,
  IXFR: 251,
  AXFR: 252,
  ANY: 255,
} as const;

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

export const HEADER_LEN = 12;
const MAX_NAME_LEN = 255;
const MAX_LABELS = 128;
const MAX_POINTER_HOPS = 64;
/** The UDP payload size we advertise: the DNS flag day 2020 value, safe from fragmentation. */
export const EDNS_UDP_SIZE = 1232;
const OPT_RR_LEN = 11;

const FLAG_QR = 0x8000;
const FLAG_AA = 0x0400;
const FLAG_TC = 0x0200;
const FLAG_RD = 0x0100;
const FLAG_CD = 0x0010;

/** What `parseQuery` concluded. On `formerr`/`notimp` the header fields are filled in. */
export type ParseResult = 'ok' | 'drop' | 'formerr' | 'notimp';

/**
 * One parsed query. The question name is kept as offsets into the packet (labels may be
 * scattered by compression), so nothing is copied until a label is actually needed.
 */
export class Query {
  id = 0;
  flags = 0;
  opcode = 0;
  qtype = 0;
  qclass = 0;
  labelCount = 0;
  readonly labelStart = new Int32Array(MAX_LABELS);
  readonly labelLen = new Uint8Array(MAX_LABELS);
  /** Uncompressed wire length of the question name, root byte included. */
  nameLen = 0;
  edns = false;
  ednsUdpSize = 0;
  ednsVersion = 0;
  /** Why the last parse failed, for events; '' after a good parse. */
  reason = '';
  packet: Buffer = EMPTY;

  reset(packet: Buffer): void {
    this.packet = packet;
    this.id = 0;
    this.flags = 0;
    this.opcode = 0;
    this.qtype = 0;
    this.qclass = 0;
    this.labelCount = 0;
    this.nameLen = 0;
    this.edns = false;
    this.ednsUdpSize = 0;
    this.ednsVersion = 0;
    this.reason = '';
  }

  /** Label `i` lower-cased (ASCII only, as DNS compares names), as a latin1 string. */
  label(i: number): string {
    const s = this.labelStart[i];
    return this.packet.toString('latin1', s, s + this.labelLen[i]).toLowerCase();
  }

  /** The question name, lower-cased, without the trailing dot ('' for the root). */
  name(): string {
    const parts: string[] = [];
    for (let i = 0; i < this.labelCount; i++) parts.push(this.label(i));
    return parts.join('.');
  }

  /** Does label `i` equal `want` (already lower-case bytes), ignoring ASCII case? */
  labelEquals(i: number, want: Uint8Array): boolean {
    const len = this.labelLen[i];
    if (len !== want.length) return false;
    const p = this.packet;
    const s = this.labelStart[i];
    for (let k = 0; k < len; k++) {
      let b = p[s + k];
      if (b >= 0x41 && b <= 0x5a) b |= 0x20;
      if (b !== want[k]) return false;
    }
    return true;
  }
}

const EMPTY = Buffer.alloc(0);

function fail(q: Query, reason: string): 'formerr' {
  q.reason = reason;
  return 'formerr';
}

/**
 * Parses a query into `q`. `drop`: not worth an answer (shorter than a header, or a
 * response — answering responses invites reflection loops). `formerr`/`notimp`: answer
 * with that rcode using the header in `q`.
 */
export function parseQuery(buf: Buffer, q: Query): ParseResult {
  q.reset(buf);
  if (buf.length < HEADER_LEN) {
    q.reason = 'shorter than a DNS header';
    return 'drop';
  }
  q.id = buf.readUInt16BE(0);
  q.flags = buf.readUInt16BE(2);
  q.opcode = (q.flags >> 11) & 0x0f;
  if (q.flags & FLAG_QR) {
    q.reason = 'a response, not a query';
    return 'drop';
  }
  if (q.opcode !== 0) {
    q.reason = `opcode ${q.opcode} not implemented`;
    return 'notimp';
  }
  const qdcount = buf.readUInt16BE(4);
  const ancount = buf.readUInt16BE(6);
  const nscount = buf.readUInt16BE(8);
  const arcount = buf.readUInt16BE(10);
  if (qdcount !== 1) return fail(q, `${qdcount} questions, expected 1`);

  let pos = readQuestionName(buf, HEADER_LEN, q);
  if (pos < 0) return 'formerr';
  if (pos + 4 > buf.length) return fail(q, 'question truncated');
  q.qtype = buf.readUInt16BE(pos);
  q.qclass = buf.readUInt16BE(pos + 2);
  pos += 4;

  // Queries carry no answers or authority, but skip them politely to reach EDNS.
  for (let i = 0; i < ancount + nscount; i++) {
    pos = skipRecord(buf, pos, null, q);
    if (pos < 0) return 'formerr';
  }
  for (let i = 0; i < arcount; i++) {
    pos = skipRecord(buf, pos, q, q);
    if (pos < 0) return 'formerr';
  }
  return 'ok';
}

/** Reads the question name at `off` into q's label offsets; returns the offset after it, or -1. */
function readQuestionName(buf: Buffer, off: number, q: Query): number {
  let pos = off;
  let end = -1;
  // Every pointer must land before `bound`, and `bound` moves down to each target, so
  // the positions read strictly decrease across jumps: no loops, whatever the input.
  let bound = off;
  let hops = 0;
  let nameLen = 1;
  let count = 0;
  for (;;) {
    if (pos >= buf.length) {
      fail(q, 'name runs past the end of the packet');
      return -1;
    }
    const len = buf[pos];
    if (len === 0) {
      if (end < 0) end = pos + 1;
      break;
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= buf.length) {
        fail(q, 'compression pointer truncated');
        return -1;
      }
      const target = ((len & 0x3f) << 8) | buf[pos + 1];
      if (end < 0) end = pos + 2;
      if (target < HEADER_LEN || target >= bound || ++hops > MAX_POINTER_HOPS) {
        fail(q, 'compression pointer does not point to an earlier name');
        return -1;
      }
      bound = target;
      pos = target;
      continue;
    }
    if (kind !== 0) {
      fail(q, 'unsupported label type');
      return -1;
    }
    if (pos + 1 + len > buf.length) {
      fail(q, 'label runs past the end of the packet');
      return -1;
    }
    nameLen += len + 1;
    if (nameLen > MAX_NAME_LEN || count >= MAX_LABELS) {
      fail(q, 'name longer than 255 bytes');
      return -1;
    }
    q.labelStart[count] = pos + 1;
    q.labelLen[count] = len;
    count++;
    pos += 1 + len;
  }
  q.labelCount = count;
  q.nameLen = nameLen;
  return end;
}

/** Skips a name without following pointers (a pointer ends it); returns the offset after it, or -1. */
function skipName(buf: Buffer, off: number): number {
  let pos = off;
  let total = 1;
  while (pos < buf.length) {
    const len = buf[pos];
    if (len === 0) return pos + 1;
    if ((len & 0xc0) === 0xc0) return pos + 2 <= buf.length ? pos + 2 : -1;
    if (len & 0xc0) return -1;
    total += len + 1;
    if (total > MAX_NAME_LEN) return -1;
    pos += 1 + len;
  }
  return -1;
}

/** Skips one resource record; if `edns` is given, an OPT record found there is recorded in it. */
function skipRecord(buf: Buffer, off: number, edns: Query | null, q: Query): number {
  const nameStart = off;
  const pos = skipName(buf, off);
  if (pos < 0 || pos + 10 > buf.length) {
    fail(q, 'record truncated');
    return -1;
  }
  const type = buf.readUInt16BE(pos);
  const rdlen = buf.readUInt16BE(pos + 8);
  const next = pos + 10 + rdlen;
  if (next > buf.length) {
    fail(q, 'record data runs past the end of the packet');
    return -1;
  }
  if (type === TYPE.OPT && edns) {
    if (edns.edns) {
      fail(q, 'more than one OPT record');
      return -1;
    }
    if (pos !== nameStart + 1 || buf[nameStart] !== 0) {
      fail(q, 'OPT record with a name other than the root');
      return -1;
    }
    edns.edns = true;
    edns.ednsUdpSize = buf.readUInt16BE(pos + 2);
    edns.ednsVersion = buf[pos + 5];
  }
  return next;
}

/** One answer's record data: 4 bytes for A, 16 for AAAA. */
export interface Answer {
  type: number;
  data: Uint8Array;
}

export interface ResponseOptions {
  rcode: number;
  /** Authoritative answer: set for names in our domains. */
  aa: boolean;
  /** Echo the question (off for FORMERR/NOTIMP, where it may not have parsed). */
  question: boolean;
  answers?: readonly Answer[];
  ttl?: number;
  /** Largest message allowed; answers that do not fit are left out and TC is set. */
  maxSize: number;
  /** Bytes to leave free at the start (2 for the TCP length prefix, which is filled in). */
  prefix?: 0 | 2;
}

/**
 * Writes the response to `q`. The question is re-encoded from its labels uncompressed,
 * keeping the client's letter case (resolvers using 0x20 randomisation check it); answers
 * name it with a pointer to offset 12. RA is never set: this server does not recurse.
 */
export function encodeResponse(q: Query, o: ResponseOptions): Buffer {
  const prefix = o.prefix ?? 0;
  const answers = o.answers ?? [];
  const edns = q.edns;
  const questionLen = o.question ? q.nameLen + 4 : 0;
  let size = HEADER_LEN + questionLen + (edns ? OPT_RR_LEN : 0);
  let n = 0;
  let tc = false;
  for (; n < answers.length; n++) {
    const rr = 12 + answers[n].data.length;
    if (size + rr > o.maxSize) {
      tc = true;
      break;
    }
    size += rr;
  }

  const out = Buffer.allocUnsafe(prefix + size);
  let p = 0;
  if (prefix) p = out.writeUInt16BE(size, 0);
  const h = p;
  let flags = FLAG_QR | (q.opcode << 11) | (q.flags & (FLAG_RD | FLAG_CD)) | (o.rcode & 0x0f);
  if (o.aa) flags |= FLAG_AA;
  if (tc) flags |= FLAG_TC;
  p = out.writeUInt16BE(q.id, p);
  p = out.writeUInt16BE(flags, p);
  p = out.writeUInt16BE(o.question ? 1 : 0, p);
  p = out.writeUInt16BE(n, p);
  p = out.writeUInt16BE(0, p);
  p = out.writeUInt16BE(edns ? 1 : 0, p);

  if (o.question) {
    const src = q.packet;
    for (let i = 0; i < q.labelCount; i++) {
      const len = q.labelLen[i];
      out[p++] = len;
      const s = q.labelStart[i];
      p += src.copy(out, p, s, s + len);
    }
    out[p++] = 0;
    p = out.writeUInt16BE(q.qtype, p);
    p = out.writeUInt16BE(q.qclass, p);
  }

  const ttl = o.ttl ?? 0;
  for (let i = 0; i < n; i++) {
    const a = answers[i];
    // Pointer to the question name at offset 12 (relative to the message, not the prefix).
    p = out.writeUInt16BE(0xc000 | HEADER_LEN, p);
    p = out.writeUInt16BE(a.type, p);
    p = out.writeUInt16BE(CLASS_IN, p);
    p = out.writeUInt32BE(ttl >>> 0, p);
    p = out.writeUInt16BE(a.data.length, p);
    out.set(a.data, p);
    p += a.data.length;
  }

  if (edns) {
    out[p++] = 0;
    p = out.writeUInt16BE(TYPE.OPT, p);
    p = out.writeUInt16BE(EDNS_UDP_SIZE, p);
    // TTL field: extended rcode (upper 8 bits), version 0, no flags (we do not sign: DO clear).
    p = out.writeUInt32BE(((o.rcode >> 4) & 0xff) * 0x1000000, p);
    p = out.writeUInt16BE(0, p);
  }
  if (p - h !== size) throw new Error(`dns-wire: wrote ${p - h} bytes, expected ${size}`);
  return out;
}

/** The largest UDP response the client can take: 512 without EDNS, else its size capped at ours. */
export function udpLimit(q: Query): number {
  if (!q.edns) return 512;
  return Math.max(512, Math.min(q.ednsUdpSize, EDNS_UDP_SIZE));
}

/** A query packet, for clients and tests. */
export function encodeQuery(
  name: string,
  qtype: number,
  opts: { id?: number; rd?: boolean; edns?: number } = {},
): Buffer {
  const labels = name.replace(/\.$/, '').split('.').filter((l) => l.length > 0);
  const parts: Buffer[] = [];
  const header = Buffer.alloc(HEADER_LEN);
  header.writeUInt16BE(opts.id ?? 0, 0);
  header.writeUInt16BE(opts.rd === false ? 0 : FLAG_RD, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(opts.edns !== undefined ? 1 : 0, 10);
  parts.push(header);
  for (const l of labels) {
    const b = Buffer.from(l, 'latin1');
    if (b.length > 63) throw new RangeError(`label longer than 63 bytes: ${l}`);
    parts.push(Buffer.from([b.length]), b);
  }
  const tail = Buffer.alloc(5);
  tail.writeUInt16BE(qtype, 1);
  tail.writeUInt16BE(CLASS_IN, 3);
  parts.push(tail);
  if (opts.edns !== undefined) {
    const opt = Buffer.alloc(OPT_RR_LEN);
    opt.writeUInt16BE(TYPE.OPT, 1);
    opt.writeUInt16BE(opts.edns, 3);
    parts.push(opt);
  }
  return Buffer.concat(parts);
}

/** The 4 bytes of an IPv4 address, or null if it is not one. */
export function ipv4Bytes(s: string): Uint8Array | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i];
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return null;
    const v = Number(p);
    if (v > 255) return null;
    out[i] = v;
  }
  return out;
}

/** The 16 bytes of an IPv6 address (`::`, embedded IPv4 and a `%zone` suffix allowed), or null. */
export function ipv6Bytes(s: string): Uint8Array | null {
  const pct = s.indexOf('%');
  if (pct >= 0) s = s.slice(0, pct);
  const dbl = s.indexOf('::');
  if (dbl >= 0 && s.indexOf('::', dbl + 1) >= 0) return null;
  const head = dbl >= 0 ? s.slice(0, dbl) : s;
  const tail = dbl >= 0 ? s.slice(dbl + 2) : '';
  const hw = groups(head, dbl < 0);
  const tw = groups(tail, true);
  if (!hw || !tw) return null;
  const words = dbl >= 0 ? hw.length + tw.length : hw.length;
  if (dbl >= 0 ? words > 7 : words !== 8) return null;
  const all = [...hw, ...new Array<number>(8 - words).fill(0), ...tw];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = all[i] >> 8;
    out[2 * i + 1] = all[i] & 0xff;
  }
  return out;
}

/** Colon-separated hex groups; the last may be dotted IPv4 when `v4Last`. */
function groups(s: string, v4Last: boolean): number[] | null {
  if (s === '') return [];
  const parts = s.split(':');
  const words: number[] = [];
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    if (i === parts.length - 1 && v4Last && p.includes('.')) {
      const v4 = ipv4Bytes(p);
      if (!v4) return null;
      words.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
    } else {
      if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return null;
      words.push(parseInt(p, 16));
    }
  }
  return words;
}
