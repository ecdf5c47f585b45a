// The client side of the router's node:http server, before a request exists: admitting
// connections under the limits (client-limits.ts), and answering what the parser hands
// over without a response object (a head it refused, a header timeout, CONNECT).
//
// A connection's life here:
//
//   accept ──► over a limit? ──yes──► 503 + Connection: close, written on the socket, linger, close
//     │ no
//     ▼
//   counted ──► node:http parses requests; the router answers them
//     │   headers not complete within headerTimeoutMs ──► 408 and close (silently if it sent nothing)
//     │   a head the parser refuses ───────────────────► 400 (431, 413) and close, unless a response
//     │                                                  is in flight: that one ends, then close
//     │   CONNECT ─────────────────────────────────────► 405 with Allow, and close
//     │   idle keep-alive past idleTimeoutMs ──────────► closed silently (node:http)
//     ▼
//   close ──► uncounted
import http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { ConnectionCounts, addressKey, type ClientLimits } from './client-limits.js';
import * as msg from './messages.js';
import { answerAndClose, kClosing, rawResponse, type MaybeClosing } from './raw-response.js';

/** What the edge has seen; counters only grow, `open` is the current count. */
export interface ClientEdgeStats {
  open: number;
  addresses: number;
  refusedGlobal: number;
  refusedAddress: number;
  /** Heads node:http's parser refused (400, 413 or 431). */
  malformed: number;
  /** 408s for headers that did not complete in time. */
  headerTimeouts: number;
  connects: number;
}

const kAnswered = Symbol('summon.answered');
// `_httpMessage` is node:http's response in flight on the socket, if any (what its own
// clientError default looks at too).
type EdgeSocket = Duplex & MaybeClosing & { [kAnswered]?: true; bytesRead?: number; _httpMessage?: unknown };

/** Methods the router forwards; the Allow header of its 405 to CONNECT. */
export const ALLOWED_METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS';

export class ClientEdge {
  private readonly counts: ConnectionCounts;
  private refusedGlobal = 0;
  private refusedAddress = 0;
  private malformed = 0;
  private headerTimeouts = 0;
  private connects = 0;
  private readonly timeoutResponse: string;
  private readonly globalRefusal: string;
  private readonly addressRefusal: string;

  constructor(
    private readonly server: http.Server,
    limits: ClientLimits,
  ) {
    this.counts = new ConnectionCounts(limits);
    this.timeoutResponse = rawResponse(408, msg.headerTimeoutBody(limits.headerTimeoutMs));
    this.globalRefusal = rawResponse(503, msg.tooManyConnectionsBody(limits.maxConnections), [['Retry-After', '1']]);
    this.addressRefusal = rawResponse(503, msg.tooManyFromAddressBody(limits.maxConnectionsPerAddress), [['Retry-After', '1']]);

    // node:http attaches its parser in its own 'connection' listener, registered by
    // http.Server's constructor. A refused socket must never reach it (a request on it would
    // be routed), so that listener is taken off and called only for admitted sockets.
    const own = server.listeners('connection');
    if (own.length !== 1) throw new Error(`router: expected node:http's one connection listener, found ${own.length}`);
    const attach = own[0] as (this: http.Server, socket: Socket) => void;
    server.removeListener('connection', attach);
    server.on('connection', (socket: Socket) => this.onConnection(socket, attach));
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => this.onClientError(err, socket as EdgeSocket));
    // Without a listener node:http drops a CONNECT with no answer at all.
    server.on('connect', (_req: http.IncomingMessage, socket: Duplex) => {
      this.connects++;
      answerAndClose(socket, rawResponse(405, msg.CONNECT_BODY, [['Allow', ALLOWED_METHODS]]));
    });
  }

  stats(): ClientEdgeStats {
    return {
      open: this.counts.open,
      addresses: this.counts.addresses,
      refusedGlobal: this.refusedGlobal,
      refusedAddress: this.refusedAddress,
      malformed: this.malformed,
      headerTimeouts: this.headerTimeouts,
      connects: this.connects,
    };
  }

  private onConnection(socket: Socket, attach: (this: http.Server, socket: Socket) => void): void {
    const ip = socket.remoteAddress;
    if (ip === undefined) {
      socket.destroy(); // gone before it was accepted
      return;
    }
    const key = addressKey(ip);
    const refusal = this.counts.admit(key);
    if (refusal !== null) {
      if (refusal === 'global') this.refusedGlobal++;
      else this.refusedAddress++;
      answerAndClose(socket, refusal === 'global' ? this.globalRefusal : this.addressRefusal);
      return;
    }
    // One closure per connection, not per request.
    socket.once('close', () => this.counts.release(key));
    attach.call(this.server, socket);
  }

  private onClientError(err: NodeJS.ErrnoException, socket: EdgeSocket): void {
    // A parser in error stays in error: every later chunk comes back here. The first answer stands.
    if (socket[kAnswered]) return;
    socket[kAnswered] = true;
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const inFlight = socket._httpMessage as http.ServerResponse | null | undefined;
    if (inFlight) {
      // What failed came pipelined behind a request still being answered (or after one that
      // asked to close: llhttp's "Data after Connection: close"). An answer written now would
      // be taken for that request's, so it is not written: the request in flight is answered,
      // then the connection closes and what followed goes unanswered.
      socket[kClosing] = true;
      if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') socket.destroy(); // the one in flight is what timed out
      else inFlight.once('finish', () => (socket as Socket).destroySoon());
      return;
    }
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      // A connection that never sent a byte is a probe or an idle preconnect, not a request:
      // close it without an answer, as browsers expect of preconnects.
      if (socket.bytesRead === 0) {
        socket.destroy();
        return;
      }
      this.headerTimeouts++;
      // The parser is still attached and healthy here, so a request may yet complete: it is
      // not routed (kClosing), and the socket goes as soon as the answer is out.
      socket[kClosing] = true;
      socket.end(this.timeoutResponse, () => socket.destroy());
      return;
    }
    this.malformed++;
    let text: string;
    if (err.code === 'HPE_HEADER_OVERFLOW') text = rawResponse(431, msg.headersTooLargeBody(http.maxHeaderSize));
    else if (err.code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW') text = rawResponse(413, msg.malformedBody('chunk extensions too large'));
    else text = rawResponse(400, msg.malformedBody(parserReason(err)));
    answerAndClose(socket, text);
  }
}

/** llhttp's own short reason ("Duplicate Content-Length"), kept to printable ASCII. */
function parserReason(err: NodeJS.ErrnoException): string {
  const r = (err as { reason?: unknown }).reason;
  const text = typeof r === 'string' && r !== '' ? r : (err.code ?? 'parse error');
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, 120);
}
