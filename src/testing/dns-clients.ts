// DNS clients for tests: `dig` (a real resolver's client, parsed from its text output) and raw
// UDP/TCP sockets for packets no real client would send.
import dgram from 'node:dgram';
import net from 'node:net';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import dnsPacket from 'dns-packet';
import { scaled } from './wait.js';

const run = promisify(execFile);

export interface Dig {
  status: string;
  flags: string[];
  /** Each record split on white space: name, ttl, class, type, data… */
  answers: string[][];
  authority: string[][];
  additional: string[][];
  /** The transport of the reply dig printed: UDP, or TCP (asked for, or after TC). */
  transport: string;
  /** Size of the reply dig printed, in bytes. */
  size: number;
  raw: string;
}

export async function dig(port: number, name: string, type: string, ...extra: string[]): Promise<Dig> {
  const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(port), `+time=${Math.ceil(scaled(3000) / 1000)}`, '+tries=1', ...extra, name, type]);
  const section = (title: string): string[][] => {
    const sec = stdout.split(`;; ${title} SECTION:\n`)[1];
    if (!sec) return [];
    return sec.split('\n\n')[0].split('\n').filter((l) => l.trim() !== '').map((l) => l.split(/\s+/));
  };
  return {
    status: /status: (\w+)/.exec(stdout)?.[1] ?? '',
    flags: (/;; flags: ([a-z ]*)[;]/.exec(stdout)?.[1] ?? '').trim().split(/\s+/).filter(Boolean),
    answers: section('ANSWER'),
    authority: section('AUTHORITY'),
    additional: section('ADDITIONAL'),
    transport: /;; SERVER: \S+ \((\w+)\)/.exec(stdout)?.[1] ?? '',
    size: Number(/MSG SIZE\s+rcvd: (\d+)/.exec(stdout)?.[1] ?? NaN),
    raw: stdout,
  };
}

/** A query as dns-packet writes it; `edns` adds an OPT record with that UDP size (and `ednsVersion`). */
export function query(name: string, type: dnsPacket.RecordType | 'ANY', o: { id?: number; rd?: boolean; edns?: number; ednsVersion?: number } = {}): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id: o.id ?? 0,
    flags: o.rd === false ? 0 : dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type: type as dnsPacket.RecordType }], // dns-packet knows ANY; its types do not
    additionals: o.edns === undefined ? [] : [{
      type: 'OPT', name: '.', udpPayloadSize: o.edns, extendedRcode: 0, ednsVersion: o.ednsVersion ?? 0, flags: 0, flag_do: false, options: [],
    }],
  });
}

/** A bare header: id, flags, then the four counts. */
export function header(id: number, flags: number, qd: number, an = 0, ns = 0, ar = 0): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(id, 0);
  h.writeUInt16BE(flags, 2);
  h.writeUInt16BE(qd, 4);
  h.writeUInt16BE(an, 6);
  h.writeUInt16BE(ns, 8);
  h.writeUInt16BE(ar, 10);
  return h;
}

export interface UdpClient {
  replies: Buffer[];
  send(b: Buffer): Promise<void>;
  /** The reply with this id, waiting for it (the test's own timeout bounds the wait). */
  reply(id: number): Promise<Buffer>;
  close(): Promise<void>;
}

/** A UDP client that collects replies, so a test can wait for the reply to a given id. */
export async function udpClient(port: number): Promise<UdpClient> {
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
    send: (b) => new Promise<void>((r, j) => sock.send(b, port, '127.0.0.1', (e) => (e ? j(e) : r()))),
    async reply(id) {
      for (;;) {
        const hit = replies.find((m) => m.length >= 2 && m.readUInt16BE(0) === id);
        if (hit) return hit;
        await new Promise<void>((r) => waiters.push(r));
      }
    },
    close: () => new Promise<void>((r) => sock.close(() => r())),
  };
}

export interface TcpClient {
  sock: net.Socket;
  /** Complete replies received so far (length prefix removed). */
  replies: Buffer[];
  /** Sends `msg` with its 2-byte length prefix. */
  send(msg: Buffer): void;
  /** Waits until `n` replies have arrived. */
  waitReplies(n: number): Promise<Buffer[]>;
  closed: Promise<void>;
}

export async function tcpClient(port: number): Promise<TcpClient> {
  const sock = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  sock.on('error', () => {}); // a reset by the server shows as `closed`
  const replies: Buffer[] = [];
  const waiters: Array<() => void> = [];
  let buf = Buffer.alloc(0);
  sock.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
      replies.push(Buffer.from(buf.subarray(2, 2 + buf.readUInt16BE(0))));
      buf = buf.subarray(2 + buf.readUInt16BE(0));
    }
    for (const w of waiters.splice(0)) w();
  });
  const closed = new Promise<void>((r) => sock.on('close', () => {
    for (const w of waiters.splice(0)) w();
    r();
  }));
  return {
    sock, replies, closed,
    send(msg) {
      sock.write(frame(msg));
    },
    async waitReplies(n) {
      while (replies.length < n) {
        if (sock.destroyed) throw new Error(`connection closed after ${replies.length} of ${n} replies`);
        await new Promise<void>((r) => waiters.push(r));
      }
      return replies;
    },
  };
}

export function frame(msg: Buffer): Buffer {
  const f = Buffer.alloc(2 + msg.length);
  f.writeUInt16BE(msg.length, 0);
  msg.copy(f, 2);
  return f;
}

/** The rcode of a reply, extended by its OPT record if it has one. */
export function rcodeOf(reply: Buffer): number {
  const low = reply.readUInt16BE(2) & 0x0f;
  try {
    const opt = dnsPacket.decode(reply).additionals?.find((a) => a.type === 'OPT') as dnsPacket.OptAnswer | undefined;
    return opt ? (opt.extendedRcode << 4) | low : low;
  } catch {
    return low;
  }
}
