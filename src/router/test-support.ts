// Shared pieces for the router tests: real node:http upstreams on loopback and a
// small client. Not imported by production code.
import http from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { waitFor as waitUntil } from '../testing/wait.js';

export interface TestUpstream {
  id: string;
  port: number;
  server: http.Server;
  /** Requests received, in order. */
  seen: { method: string; url: string; headers: http.IncomingHttpHeaders; rawHeaders: string[] }[];
  /** Open TCP connections from the router. */
  sockets: Set<Socket>;
  /** Releases a request parked on /hang/<key>. */
  release(key: string): void;
  /** Stops the server and destroys every connection, in flight or not. */
  kill(): Promise<void>;
  upstream(): { id: string; address: string; port: number };
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, up: TestUpstream) => void;

/** Default behaviour: /hang/<key> waits for release(key); /echo returns the body; else "<id> <method> <url>". */
export async function startUpstream(id: string, handler?: Handler): Promise<TestUpstream> {
  const parked = new Map<string, () => void>();
  const early = new Set<string>();
  const seen: TestUpstream['seen'] = [];
  const sockets = new Set<Socket>();
  const up = {} as TestUpstream;
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders });
    if (handler) return handler(req, res, up);
    defaultHandler(id, parked, early, req, res);
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  Object.assign(up, {
    id,
    port,
    server,
    seen,
    sockets,
    release(key: string) {
      const f = parked.get(key);
      if (f) {
        parked.delete(key);
        f();
      } else early.add(key);
    },
    async kill() {
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
      for (const s of sockets) s.destroy();
      await closed;
    },
    upstream() {
      return { id, address: '127.0.0.1', port };
    },
  });
  return up;
}

function defaultHandler(
  id: string,
  parked: Map<string, () => void>,
  early: Set<string>,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): void {
  const url = req.url ?? '/';
  if (url.startsWith('/hang/')) {
    const key = url.slice(6);
    const answer = () => {
      req.resume();
      res.end(`${id} released ${key}`);
    };
    if (early.delete(key)) answer();
    else parked.set(key, answer);
    return;
  }
  if (url === '/echo') {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => res.end(Buffer.concat(chunks)));
    return;
  }
  req.resume();
  res.setHeader('X-Upstream', id);
  res.end(`${id} ${req.method} ${url}`);
}

/** A port nothing listens on (bound, then closed). */
export async function deadPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface RequestOpts {
  port: number;
  host: string;
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string | Buffer | Readable;
  agent?: http.Agent | false;
  /** Source address on loopback (127.0.0.2, ...), to look like another client. */
  localAddress?: string;
  /** Gets the ClientRequest so a test can abort it. */
  onRequest?: (r: http.ClientRequest) => void;
}

export function request(o: RequestOpts): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const r = http.request(
      {
        host: '127.0.0.1',
        port: o.port,
        method: o.method ?? 'GET',
        path: o.path ?? '/',
        headers: { host: o.host, ...o.headers },
        agent: o.agent ?? false,
        ...(o.localAddress ? { localAddress: o.localAddress } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    r.on('error', reject);
    o.onRequest?.(r);
    if (o.body instanceof Readable) o.body.pipe(r);
    else r.end(o.body);
  });
}

/** Polls `cond` every 5 ms until it holds or `ms` (scaled to the machine) pass. */
export async function waitFor(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  await waitUntil(cond, { timeoutMs: ms, intervalMs: 5, what });
}

/** A stream of `total` bytes made from one reused chunk, so the producer itself holds no memory. */
export function bigStream(total: number, chunkSize = 64 * 1024): Readable {
  const chunk = Buffer.alloc(chunkSize, 97);
  let left = total;
  return new Readable({
    read() {
      if (left <= 0) return void this.push(null);
      const n = Math.min(left, chunkSize);
      left -= n;
      this.push(n === chunkSize ? chunk : chunk.subarray(0, n));
    },
  });
}

/** A raw TCP connection to the router: what it wrote back, and whether it closed. */
export interface RawConn {
  socket: Socket;
  /** Everything received so far, as latin1 text. */
  text(): string;
  readonly connected: boolean;
  readonly closed: boolean;
}

export function rawConnect(port: number, localAddress = '127.0.0.1'): RawConn {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress });
  const chunks: Buffer[] = [];
  const state = { connected: false, closed: false };
  socket.on('connect', () => (state.connected = true));
  socket.on('data', (d: Buffer) => chunks.push(d));
  socket.on('error', () => {}); // a reset is an outcome the test looks at, not a failure
  socket.on('close', () => (state.closed = true));
  return {
    socket,
    text: () => Buffer.concat(chunks).toString('latin1'),
    get connected() {
      return state.connected;
    },
    get closed() {
      return state.closed;
    },
  };
}

export interface RawReply {
  raw: string;
  status: number;
  /** Lower-cased names; a repeated header's values joined with ', '. */
  headers: Record<string, string>;
  body: string;
}

export function parseRawReply(raw: string): RawReply {
  const end = raw.indexOf('\r\n\r\n');
  if (end === -1) return { raw, status: 0, headers: {}, body: '' };
  const lines = raw.slice(0, end).split('\r\n');
  const status = Number(lines[0].split(' ')[1]);
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const c = l.indexOf(':');
    const k = l.slice(0, c).trim().toLowerCase();
    const v = l.slice(c + 1).trim();
    headers[k] = headers[k] === undefined ? v : headers[k] + ', ' + v;
  }
  return { raw, status, headers, body: raw.slice(end + 4) };
}

/** Writes `bytes` on a new connection and returns what came back once the router closed it. */
export async function rawRequest(port: number, bytes: string, o: { localAddress?: string; ms?: number } = {}): Promise<RawReply> {
  const c = rawConnect(port, o.localAddress);
  c.socket.write(bytes);
  try {
    await waitFor('the router to answer and close the connection', () => c.closed, o.ms ?? 5000);
  } finally {
    c.socket.destroy();
  }
  return parseRawReply(c.text());
}
