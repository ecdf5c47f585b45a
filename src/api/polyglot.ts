// The API port speaks plain HTTP and HTTPS both: the first byte of a connection says which (a
// TLS ClientHello starts with 0x16, no HTTP method does). HTTPS on it uses the control plane's
// self-signed certificate, which hosts that join by dialing out pin by fingerprint (the join
// command carries it): they reach the API port over TLS, nothing else changes for the CLI,
// git or the dashboard, and there is no second port to open.
import net from 'node:net';
import tls from 'node:tls';
import { Duplex } from 'node:stream';
import type http from 'node:http';

/** A socket as a plain stream (what a TLSSocket reads through JS, not the handle). */
class SocketStream extends Duplex {
  constructor(private readonly sock: net.Socket) {
    super({ allowHalfOpen: false });
    sock.on('data', (d: Buffer) => {
      if (!this.push(d)) sock.pause();
    });
    sock.on('end', () => this.push(null));
    sock.on('error', (e) => this.destroy(e));
    sock.on('close', () => this.destroy());
  }

  get remoteAddress(): string | undefined {
    return this.sock.remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.sock.remotePort;
  }

  override _read(): void {
    this.sock.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.sock.write(chunk, cb);
  }

  override _final(cb: (e?: Error | null) => void): void {
    this.sock.end(cb);
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    this.sock.destroy();
    cb(err);
  }

  setTimeout(ms: number, cb?: () => void): this {
    this.sock.setTimeout(ms, cb);
    return this;
  }

  setNoDelay(v?: boolean): this {
    this.sock.setNoDelay(v);
    return this;
  }

  setKeepAlive(v?: boolean, d?: number): this {
    this.sock.setKeepAlive(v, d);
    return this;
  }
}

export interface PolyglotListener {
  server: net.Server;
  port: number;
  close(): Promise<void>;
}

/** Listens on host:port and hands each connection to `app`, through TLS when it starts with a
 *  TLS handshake. A connection that sends nothing for `firstByteMs` is closed. */
export async function listenPolyglot(app: http.Server, cert: { key: string; cert: string }, port: number, host: string, firstByteMs = 60_000): Promise<PolyglotListener> {
  const secure = tls.createServer({ key: cert.key, cert: cert.cert });
  secure.on('secureConnection', (s) => app.emit('connection', s));
  // A failed handshake concerns that client only.
  secure.on('tlsClientError', (_e, s) => s.destroy());
  const open = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    open.add(sock);
    sock.once('close', () => open.delete(sock));
    const timer = setTimeout(() => sock.destroy(), firstByteMs);
    timer.unref();
    sock.once('error', () => clearTimeout(timer));
    sock.once('data', (buf: Buffer) => {
      clearTimeout(timer);
      sock.pause();
      sock.unshift(buf);
      // TLS over the socket's own handle would skip the byte read here: it gets the socket as
      // a stream instead, which sees it.
      if (buf[0] === 0x16) secure.emit('connection', new SocketStream(sock));
      else app.emit('connection', sock);
      sock.resume();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    server,
    port: (server.address() as net.AddressInfo).port,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of open) s.destroy();
    }),
  };
}
