// HTTPS on the Node data plane: a node:tls server whose decrypted connections are handed to
// the router's own node:http server, so routing, holding, retries, websockets, client limits
// and timeouts are the same code as plain HTTP (the router tells the two apart by the
// socket's `encrypted`). The certificate is chosen by SNI from the edge state's certs:
// an exact name first, then a wildcard one label up (`*.example.com` covers `a.example.com`,
// not `example.com` nor `a.b.example.com`); of several that cover a name, the one that
// expires last (a renewal takes over at once). The leaf is served with its chain.
//
// A handshake without SNI, or for a name no certificate covers, is refused (the connection is
// closed in the handshake; node:tls sends no unrecognized_name alert), as HAProxy's
// `strict-sni` and nginx's `ssl_reject_handshake` refuse it: a default certificate would show
// one app's names to whoever asks and fail the client's check anyway.
import type http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import tls from 'node:tls';
import type { EdgeCert } from './edge-types.js';

export interface TlsListenerStats {
  /** Handshakes refused for want of SNI or of a certificate for the name. */
  unknownSni: number;
  /** Other failed handshakes (protocol errors, timeouts, clients that went away). */
  handshakeErrors: number;
  /** Certificates loaded, and the names they cover. */
  certs: number;
  names: number;
}

interface Loaded {
  id: string;
  notAfter: number;
  ctx: tls.SecureContext;
}

/** Lower case, no trailing dot. */
function norm(name: string): string {
  const n = name.toLowerCase();
  return n.endsWith('.') ? n.slice(0, -1) : n;
}

export class TlsListener {
  private readonly server: tls.Server;
  private readonly exact = new Map<string, Loaded>();
  /** `*.example.com` is kept under `example.com`. */
  private readonly wildcard = new Map<string, Loaded>();
  private readonly loaded = new Map<string, Loaded>();
  private unknownSni = 0;
  private handshakeErrors = 0;
  private port: number;

  constructor(
    http: http.Server,
    private readonly o: { port: number; host?: string; handshakeTimeoutMs: number; maxConnections: number },
  ) {
    this.port = o.port;
    this.server = tls.createServer({
      SNICallback: (servername, cb) => {
        const ctx = this.contextFor(servername);
        if (ctx) cb(null, ctx);
        else {
          // counted in tlsClientError, where this error arrives
          cb(Object.assign(new Error(`no certificate for ${JSON.stringify(servername)}`), { code: 'ERR_SUMMON_UNKNOWN_SNI' }));
        }
      },
      ALPNProtocols: ['http/1.1'],
      minVersion: 'TLSv1.2',
      handshakeTimeout: o.handshakeTimeoutMs,
    });
    // Without SNI there is no SNICallback: the default context, which has no certificate, fails
    // the handshake. Counted as an unknown name.
    this.server.on('tlsClientError', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ERR_SUMMON_UNKNOWN_SNI' || /no suitable signature|no shared cipher|missing.*certificate|NO_SHARED_CIPHER/i.test(err.message)) this.unknownSni++;
      else this.handshakeErrors++;
    });
    // Raw sockets, before and during the handshake, are bounded like the router's own.
    this.server.maxConnections = o.maxConnections;
    this.server.on('secureConnection', (socket: tls.TLSSocket) => {
      http.emit('connection', socket as unknown as Socket);
    });
  }

  /** The certificate for `servername`, if one covers it. */
  contextFor(servername: string | undefined): tls.SecureContext | undefined {
    if (!servername) return undefined;
    const name = norm(servername);
    const hit = this.exact.get(name);
    if (hit) return hit.ctx;
    const dot = name.indexOf('.');
    return dot > 0 ? this.wildcard.get(name.slice(dot + 1))?.ctx : undefined;
  }

  /** Replaces the certificates served (the edge state's, whole). A certificate whose PEM does
   *  not load is left out, and named in what is returned. */
  setCerts(certs: readonly EdgeCert[]): { rejected: { id: string; app: string; reason: string }[] } {
    const rejected: { id: string; app: string; reason: string }[] = [];
    const next = new Map<string, Loaded>();
    for (const c of certs) {
      let l = this.loaded.get(c.id);
      if (!l) {
        try {
          l = { id: c.id, notAfter: Date.parse(c.notAfter) || 0, ctx: tls.createSecureContext({ cert: c.certPem, key: c.keyPem }) };
        } catch (e) {
          rejected.push({ id: c.id, app: c.app, reason: (e as Error).message });
          continue;
        }
      }
      next.set(c.id, l);
    }
    this.loaded.clear();
    for (const [id, l] of next) this.loaded.set(id, l);
    this.exact.clear();
    this.wildcard.clear();
    for (const c of certs) {
      const l = next.get(c.id);
      if (!l) continue;
      for (const h of c.hosts) {
        const n = norm(h);
        const [map, key] = n.startsWith('*.') ? [this.wildcard, n.slice(2)] : [this.exact, n];
        const prev = map.get(key);
        if (!prev || prev.notAfter < l.notAfter) map.set(key, l);
      }
    }
    return { rejected };
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (e: Error) => reject(e);
      this.server.once('error', onError);
      this.server.listen(this.port, this.o.host, () => {
        this.server.off('error', onError);
        this.port = (this.server.address() as AddressInfo).port;
        resolve(this.port);
      });
    });
  }

  /** Stops accepting; connections already handed over close with the router's http server. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
    });
  }

  get listeningPort(): number {
    return this.port;
  }

  stats(): TlsListenerStats {
    return { unknownSni: this.unknownSni, handshakeErrors: this.handshakeErrors, certs: this.loaded.size, names: this.exact.size + this.wildcard.size };
  }
}
