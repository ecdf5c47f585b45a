// Router-made responses written straight on a socket, for the cases where node:http has
// no response object to give: a connection refused at accept, a head the parser rejected,
// a header timeout, CONNECT. Same headers as the router's other plain-text answers, always
// with Connection: close, since after any of these the connection cannot be trusted.
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * How long a closed-for-writing connection is kept to read and drop what the client is
 * still sending. Closing at once with unread bytes makes the kernel send a reset, and a
 * reset can reach the client before it has read the answer (nginx's lingering close).
 */
export const LINGER_MS = 1000;

/**
 * Set on a client socket once the router has decided to close it. node:http still parses
 * and emits requests pipelined behind the one that was answered with Connection: close;
 * RFC 9112 §9.6 says not to process them, and a desync attempt relies on their being routed.
 */
export const kClosing = Symbol('summon.closing');
export type MaybeClosing = { [kClosing]?: true };

export function rawResponse(status: number, body: string, extra?: readonly (readonly [string, string])[]): string {
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
    'Content-Type: text/plain; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    'Cache-Control: no-store\r\n';
  if (extra) for (const [k, v] of extra) head += `${k}: ${v}\r\n`;
  return head + 'Connection: close\r\n\r\n' + body;
}

function destroyThis(this: Duplex): void {
  this.destroy();
}

/**
 * Writes `text`, ends the socket, and destroys it once the client closes its side or
 * LINGER_MS pass, whichever is first. Whatever the client sends meanwhile is dropped.
 */
export function answerAndClose(socket: Duplex, text: string): void {
  (socket as Duplex & MaybeClosing)[kClosing] = true;
  socket.on('error', destroyThis);
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(text);
  socket.on('end', destroyThis);
  const s = socket as Duplex & { setTimeout?: (ms: number) => void };
  if (typeof s.setTimeout === 'function') {
    s.setTimeout(LINGER_MS);
    socket.on('timeout', destroyThis);
  }
  socket.resume();
}
