// One health check: an HTTP GET (2xx/3xx is healthy) or, without [health].path, a TCP connect.
import http from 'node:http';
import { connect } from 'node:net';

export interface ProbeResult {
  ok: boolean;
  /** The instance answered (an HTTP status, or the TCP connect succeeded) as opposed to not reachable. */
  answered: boolean;
  detail: string;
}

export function probeHttp(address: string, port: number, path: string, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const req = http.request({ host: address, port, path, method: 'GET', agent: false, headers: { 'user-agent': 'summon-health' } }, (res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      res.on('end', () => undefined);
      const ok = status >= 200 && status < 400;
      resolve({ ok, answered: true, detail: `GET ${path} → ${status}` });
      req.destroy();
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (e) => resolve({ ok: false, answered: false, detail: `GET ${path}: ${e.message}` }));
    req.end();
  });
}

export function probeTcp(address: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const sock = connect({ host: address, port });
    const done = (r: ProbeResult): void => {
      sock.destroy();
      resolve(r);
    };
    sock.setTimeout(timeoutMs, () => done({ ok: false, answered: false, detail: `TCP connect: no answer within ${timeoutMs} ms` }));
    sock.once('connect', () => done({ ok: true, answered: true, detail: `TCP connect to ${port} ok` }));
    sock.once('error', (e) => done({ ok: false, answered: false, detail: `TCP connect: ${e.message}` }));
  });
}
