// One health check: an HTTP GET (2xx/3xx is healthy) or, without [health].path, a TCP connect.
import http from 'node:http';
import { connect, type Socket } from 'node:net';

export interface ProbeResult {
  ok: boolean;
  /** The instance answered (an HTTP status, or the TCP connect succeeded) as opposed to not reachable. */
  answered: boolean;
  /** The connection was refused: the host is up and nothing listens on the port (yet). */
  refused: boolean;
  detail: string;
}

const refusedBy = (e: Error): boolean => (e as NodeJS.ErrnoException).code === 'ECONNREFUSED';

export interface ProbeOptions {
  timeoutMs: number;
  /** Give up sooner when the TCP connection is not even established in this long. */
  connectTimeoutMs?: number;
  signal?: AbortSignal;
}

/** Destroys `sock` with a clear error unless it connects within ms. */
function abandonUnconnected(sock: Socket, ms: number | undefined, fail: (e: Error) => void): void {
  if (ms === undefined) return;
  const timer = setTimeout(() => fail(new Error(`not connected within ${ms} ms`)), ms);
  sock.once('connect', () => clearTimeout(timer));
  sock.once('close', () => clearTimeout(timer));
}

export function probeHttp(address: string, port: number, path: string, opts: ProbeOptions): Promise<ProbeResult> {
  const { timeoutMs, signal } = opts;
  return new Promise((resolve) => {
    const req = http.request({ host: address, port, path, method: 'GET', agent: false, headers: { 'user-agent': 'summon-health' }, ...(signal ? { signal } : {}) }, (res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      res.on('end', () => undefined);
      const ok = status >= 200 && status < 400;
      resolve({ ok, answered: true, refused: false, detail: `GET ${path} → ${status}` });
      req.destroy();
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.once('socket', (sock) => abandonUnconnected(sock, opts.connectTimeoutMs, (e) => req.destroy(e)));
    req.on('error', (e) => resolve({ ok: false, answered: false, refused: refusedBy(e), detail: `GET ${path}: ${e.message}` }));
    req.end();
  });
}

export function probeTcp(address: string, port: number, opts: ProbeOptions): Promise<ProbeResult> {
  const { timeoutMs, signal } = opts;
  return new Promise((resolve) => {
    const sock = connect({ host: address, port, ...(signal ? { signal } : {}) });
    const done = (r: ProbeResult): void => {
      sock.destroy();
      resolve(r);
    };
    sock.setTimeout(timeoutMs, () => done({ ok: false, answered: false, refused: false, detail: `TCP connect: no answer within ${timeoutMs} ms` }));
    sock.once('connect', () => done({ ok: true, answered: true, refused: false, detail: `TCP connect to ${port} ok` }));
    sock.once('error', (e) => done({ ok: false, answered: false, refused: refusedBy(e), detail: `TCP connect: ${e.message}` }));
    abandonUnconnected(sock, opts.connectTimeoutMs, (e) => sock.destroy(e));
  });
}
