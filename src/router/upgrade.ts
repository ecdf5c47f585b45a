// Upgrade (WebSocket) pass-through: the handshake goes to one upstream, then the two
// sockets are piped together. Not held or retried: a client reconnects on its own.
import http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { scanRequestHead } from './headers.js';
import * as msg from './messages.js';
import { answerAndClose, rawResponse } from './raw-response.js';
import type { UpstreamState } from './upstream-pool.js';

export interface UpgradeHooks {
  route(host: string | undefined): { upstream: UpstreamState; begin(): void; end(): void } | undefined;
}

export function handleUpgrade(hooks: UpgradeHooks, proto: string, req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
  socket.on('error', () => socket.destroy());
  const scanned = scanRequestHead(req.rawHeaders, req.url!, req.httpVersionMinor === 0, req.socket.remoteAddress, proto);
  if (scanned.bad !== null) {
    answerAndClose(socket, rawResponse(400, msg.badRequestBody(scanned.bad)));
    return;
  }
  const target = hooks.route(scanned.host);
  if (!target) {
    socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 33\r\n\r\nNo running instance for upgrade.\n');
    return;
  }
  // scanRequestHead drops Connection/Upgrade as hop-by-hop; an upgrade needs them forwarded.
  const headers = scanned.headers;
  const upgrade = req.headers['upgrade'];
  headers.push('Connection', 'Upgrade');
  if (typeof upgrade === 'string') headers.push('Upgrade', upgrade);
  const u = target.upstream;
  target.begin();
  let ended = false;
  const end = () => {
    if (!ended) {
      ended = true;
      target.end();
    }
  };
  const ureq = http.request({ host: u.address, port: u.port, method: req.method, path: scanned.path, headers, setHost: false });
  ureq.on('upgrade', (ures, usock, uhead) => {
    let out = `HTTP/1.1 ${ures.statusCode} ${ures.statusMessage}\r\n`;
    for (let i = 0; i < ures.rawHeaders.length; i += 2) out += `${ures.rawHeaders[i]}: ${ures.rawHeaders[i + 1]}\r\n`;
    socket.write(out + '\r\n');
    if (uhead.length) socket.write(uhead);
    if (head.length) usock.write(head);
    usock.on('error', () => usock.destroy());
    usock.on('close', () => {
      socket.destroy();
      end();
    });
    socket.on('close', () => {
      usock.destroy();
      end();
    });
    // Servers here allow half-open sockets, so an end from either side would leave the
    // pair open forever: finish writing, then close both.
    usock.on('end', () => (socket as Socket).destroySoon());
    socket.on('end', () => usock.destroySoon());
    usock.pipe(socket);
    socket.pipe(usock);
  });
  ureq.on('response', (ures) => {
    // the upstream declined the upgrade: relay its answer and close
    let out = `HTTP/1.1 ${ures.statusCode} ${ures.statusMessage}\r\n`;
    for (let i = 0; i < ures.rawHeaders.length; i += 2) {
      const n = ures.rawHeaders[i].toLowerCase();
      if (n !== 'connection' && n !== 'transfer-encoding' && n !== 'keep-alive') out += `${ures.rawHeaders[i]}: ${ures.rawHeaders[i + 1]}\r\n`;
    }
    socket.write(out + 'Connection: close\r\n\r\n');
    ures.pipe(socket);
    ures.on('end', end);
    ures.on('error', () => {
      socket.destroy();
      end();
    });
  });
  ureq.on('error', () => {
    end();
    if (socket.writable) socket.end('HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });
  socket.on('close', () => {
    if (!ended) ureq.destroy();
  });
  ureq.end();
}
