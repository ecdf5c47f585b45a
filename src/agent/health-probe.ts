// One health check: an HTTP GET (2xx/3xx is healthy) or, without [health].path, a TCP connect.
//
// Both are one TCP connection on a bare socket: a starting instance is checked every
// millisecond, and a refused connect should cost microseconds, not an HTTP client with its
// request object, parser and error stack. For HTTP only the status line of the answer is read
// (the connection is closed after it), so there is no body or framing to parse.
import { connect, type Socket } from 'node:net';

export interface ProbeResult {
  ok: boolean;
  /** The instance answered (an HTTP status, or the TCP connect succeeded) as opposed to not reachable. */
  answered: boolean;
  /** The connection was refused: the host is up and nothing listens on the port (yet). */
  refused: boolean;
  /** The check could not even be made for want of this host's own resources (file
   *  descriptors, buffers, ports): it says nothing about the instance and must not count
   *  against it (regression: clients holding every descriptor got healthy instances killed). */
  local?: boolean;
  detail: string;
}

/** Errors that come from this host running out of something, not from the instance. */
const LOCAL_EXHAUSTION = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM', 'EADDRNOTAVAIL', 'EAGAIN']);

export function isLocalExhaustion(e: unknown): boolean {
  return LOCAL_EXHAUSTION.has((e as NodeJS.ErrnoException | null)?.code ?? '');
}

export interface ProbeOptions {
  timeoutMs: number;
  /** Give up sooner when the TCP connection is not even established in this long. */
  connectTimeoutMs?: number;
  signal?: AbortSignal;
}

const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})[ \r]/;
/** Longest status line read before the answer counts as not HTTP. */
const MAX_STATUS_LINE = 1024;

export function probeHttp(address: string, port: number, path: string, opts: ProbeOptions): Promise<ProbeResult> {
  const host = address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
  const request = `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: summon-health\r\nConnection: close\r\n\r\n`;
  return check(address, port, opts, `GET ${path}`, (sock, done) => {
    sock.write(request);
    let head = '';
    sock.setEncoding('latin1');
    sock.on('data', (chunk: string) => {
      head += chunk;
      const m = STATUS_LINE.exec(head);
      if (m) {
        const status = Number(m[1]);
        done({ ok: status >= 200 && status < 400, answered: true, refused: false, detail: `GET ${path} → ${status}` });
      } else if (head.includes('\n') || head.length > MAX_STATUS_LINE) {
        done({ ok: false, answered: true, refused: false, detail: `GET ${path}: the answer is not HTTP/1.x (${JSON.stringify(head.slice(0, 40))})` });
      }
    });
    sock.once('end', () => done({ ok: false, answered: false, refused: false, detail: `GET ${path}: connection closed before an answer` }));
  });
}

export function probeTcp(address: string, port: number, opts: ProbeOptions): Promise<ProbeResult> {
  return check(address, port, opts, 'TCP connect', (_sock, done) => {
    done({ ok: true, answered: true, refused: false, detail: `TCP connect to ${port} ok` });
  });
}

/** Connects, hands the socket to `onConnect`, and settles once with whatever comes first:
 *  its result, a refusal or other error, the connect deadline, the whole deadline, or abort. */
function check(
  address: string, port: number, opts: ProbeOptions, what: string,
  onConnect: (sock: Socket, done: (r: ProbeResult) => void) => void,
): Promise<ProbeResult> {
  return new Promise((resolve) => {
    if (opts.signal?.aborted) {
      resolve({ ok: false, answered: false, refused: false, detail: `${what}: aborted` });
      return;
    }
    const sock = connect({ host: address, port, noDelay: true });
    let settled = false;
    const timers: NodeJS.Timeout[] = [];
    const onAbort = (): void => done({ ok: false, answered: false, refused: false, detail: `${what}: aborted` });
    const done = (r: ProbeResult): void => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      opts.signal?.removeEventListener('abort', onAbort);
      sock.destroy();
      resolve(r);
    };
    timers.push(setTimeout(() => done({ ok: false, answered: false, refused: false, detail: `${what}: no answer within ${opts.timeoutMs} ms` }), opts.timeoutMs));
    if (opts.connectTimeoutMs !== undefined) {
      const ms = opts.connectTimeoutMs;
      const t = setTimeout(() => done({ ok: false, answered: false, refused: false, detail: `${what}: not connected within ${ms} ms` }), ms);
      timers.push(t);
      sock.once('connect', () => clearTimeout(t));
    }
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    sock.once('error', (e: NodeJS.ErrnoException) => {
      const local = isLocalExhaustion(e);
      done({ ok: false, answered: false, refused: e.code === 'ECONNREFUSED', ...(local ? { local } : {}), detail: `${what}: ${e.message}${local ? ' (this host is out of resources; not counted against the instance)' : ''}` });
    });
    sock.once('connect', () => onConnect(sock, done));
  });
}
