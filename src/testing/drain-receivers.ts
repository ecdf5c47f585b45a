// Log-drain receivers in the test's own process: a syslog one over TCP or TLS that reads
// RFC 6587 octet-counted frames (where rsyslog has no TLS module), and an HTTPS one that
// takes newline-delimited JSON. Both can be stopped (listener closed, connections cut: the
// receiver "goes away") and started again on the same port.
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { OctetFrameReader, parseSyslogMessage, type SyslogFields } from '../drains/frame-reader.js';
import type { DrainJsonLine } from '../drains/line-format.js';

export interface Receiver {
  port: number;
  /** Listening now. */
  up(): boolean;
  start(): Promise<void>;
  /** Closes the listener and cuts every connection. */
  stop(): Promise<void>;
}

export interface SyslogReceiver extends Receiver {
  messages: SyslogFields[];
  /** Frames that were not RFC 5424 messages, and framing errors. */
  errors: string[];
  /** Connections accepted so far. */
  connections(): number;
  /** Connections open now. */
  openConnections(): number;
}

export interface HttpsReceiver extends Receiver {
  url: string;
  lines: DrainJsonLine[];
  requests: { headers: Record<string, string | string[] | undefined>; lines: number; answered: number }[];
  /** The status for the next requests (default 200). */
  answer: number;
}

function listen(server: net.Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}

/** A syslog receiver on 127.0.0.1: TLS with `o.tls` (cert and key), plain TCP without. */
export async function startSyslogReceiver(o: { tls?: { cert: string; key: string }; port?: number } = {}): Promise<SyslogReceiver> {
  const messages: SyslogFields[] = [];
  const errors: string[] = [];
  let server: net.Server | null = null;
  let accepted = 0;
  const sockets = new Set<net.Socket>();
  const onSocket = (s: net.Socket) => {
    accepted += 1;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    const reader = new OctetFrameReader((m) => {
      const f = parseSyslogMessage(m);
      if (f) messages.push(f);
      else errors.push(`not RFC 5424: ${m.slice(0, 200)}`);
    });
    s.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk);
      } catch (e) {
        errors.push((e as Error).message);
        s.destroy();
      }
    });
  };
  const r: SyslogReceiver = {
    port: o.port ?? 0, messages, errors,
    connections: () => accepted,
    openConnections: () => sockets.size,
    up: () => server !== null,
    async start() {
      if (server) return;
      const srv = o.tls ? tls.createServer({ cert: o.tls.cert, key: o.tls.key }, onSocket) : net.createServer(onSocket);
      if (o.tls) srv.on('tlsClientError', () => undefined);
      r.port = await listen(srv, r.port);
      server = srv;
    },
    async stop() {
      const srv = server;
      if (!srv) return;
      server = null;
      const closed = new Promise<void>((res) => srv.close(() => res()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
  await r.start();
  return r;
}

/** An HTTPS drain receiver on 127.0.0.1 at /drain. */
export async function startHttpsReceiver(o: { cert: string; key: string; port?: number }): Promise<HttpsReceiver> {
  let server: https.Server | null = null;
  const r: HttpsReceiver = {
    port: o.port ?? 0, url: '', lines: [], requests: [], answer: 200,
    up: () => server !== null,
    async start() {
      if (server) return;
      const srv = https.createServer({ cert: o.cert, key: o.key }, (req, res) => {
        let body = '';
        req.setEncoding('utf8');
        req.on('data', (c: string) => (body += c));
        req.on('end', () => {
          const status = r.answer;
          const lines = body.split('\n').filter(Boolean);
          r.requests.push({ headers: req.headers, lines: lines.length, answered: status });
          if (status >= 200 && status <= 299) for (const l of lines) r.lines.push(JSON.parse(l) as DrainJsonLine);
          res.writeHead(status).end();
        });
      });
      srv.on('tlsClientError', () => undefined);
      r.port = await listen(srv, r.port);
      r.url = `https://127.0.0.1:${r.port}/drain`;
      server = srv;
    },
    async stop() {
      const srv = server;
      if (!srv) return;
      server = null;
      const closed = new Promise<void>((res) => srv.close(() => res()));
      srv.closeAllConnections();
      await closed;
    },
  };
  await r.start();
  return r;
}
