// The API port speaks plain HTTP and HTTPS both: the first byte of a connection says which (a
// TLS ClientHello starts with 0x16, no HTTP method does). HTTPS on it uses the control plane's
// self-signed certificate, which hosts that join by dialing out pin by fingerprint (the join
// command carries it): they reach the API port over TLS, nothing else changes for the CLI,
// git or the dashboard, and there is no second port to open.
import net from 'node:net';
import tls from 'node:tls';
import type http from 'node:http';

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
      (buf[0] === 0x16 ? secure : app).emit('connection', sock);
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
