// One request's way through the router: the Exchange object that carries its state, and the
// module-level event handlers of its client response, upstream request and upstream response.
// The handlers find the exchange through a symbol on the emitter, so the hot path allocates no
// closures; what they decide beyond their own exchange (retries, holds, releasing an upstream)
// is asked of the owner (router.ts).
//
// Exchange states:
//
//   NEW ──► PROXYING ──► DONE          (response streamed, or 502/504 written)
//    │  ▲      │
//    ▼  │      │ retryable failure, no other upstream
//   HELD ◄─────┘
//    │
//    └──► DONE                          (released into PROXYING, or 503, or client gone)

import type http from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Socket } from 'node:net';
import { filterResponseHeaders, contentLengthOf, type RequestHead } from './headers.js';
import { kClosing, type MaybeClosing } from './raw-response.js';
import type { AppEntry } from './route-table.js';
import type { UpstreamState } from './upstream-pool.js';

export const NEW = 0;
export const HELD = 1;
export const PROXYING = 2;
export const DONE = 3;

export const kEx = Symbol('summon.exchange');
export type WithEx<T> = T & { [kEx]?: Exchange };

/** What the handlers ask of the router that owns the exchange. */
export interface ExchangeOwner {
  /** The exchange no longer occupies its upstream. */
  releaseUpstream(ex: Exchange): void;
  /** The upstream request failed (connect, reset, body error). */
  upstreamFailed(ex: Exchange, ureq: http.ClientRequest, err: NodeJS.ErrnoException): void;
  /** Response headers came: the header timeout no longer applies. */
  headersArrived(ex: Exchange): void;
  /** A held exchange waited its longest. */
  holdTimedOut(ex: Exchange): void;
  /** Removes a held exchange from its queue. */
  unhold(ex: Exchange): void;
}

export class Exchange {
  state = NEW;
  upstream: UpstreamState | null = null;
  ureq: http.ClientRequest | null = null;
  ures: http.IncomingMessage | null = null;
  tried: string[] | null = null;
  attempts = 0;
  resetRetried = false;
  bodyStarted = false;
  sentAt = 0;
  heldAt = 0;
  /** Response body bytes still expected per Content-Length, or -1 when unknown. */
  remaining = -1;
  holdTimer: NodeJS.Timeout | null = null;
  /** Strict-Transport-Security for the answer (`[http] hsts_max_age`, HTTPS only), or null. */
  hsts: string | null = null;
  constructor(
    readonly router: ExchangeOwner,
    readonly req: http.IncomingMessage,
    readonly res: http.ServerResponse,
    readonly app: AppEntry,
    readonly head: RequestHead,
    readonly start: number,
  ) {}
}

// ── module-level handlers: `this` is the emitter, the exchange hangs off it ──

export function onResClose(this: WithEx<http.ServerResponse>): void {
  const ex = this[kEx];
  if (ex === undefined) return;
  if (ex.state === HELD) {
    ex.state = DONE;
    ex.router.unhold(ex);
  } else if (ex.state === PROXYING) {
    // client went away before the response finished: stop the upstream work
    ex.state = DONE;
    const ureq = ex.ureq;
    ex.ureq = null;
    ex.router.releaseUpstream(ex);
    ureq?.destroy();
  }
}

export function onUpSocket(this: WithEx<http.ClientRequest>, socket: Socket): void {
  // The body is read only once the connection is up, so a refused connect has consumed
  // nothing and the request can go to another upstream intact.
  if (socket.connecting) {
    const ureq = this;
    socket.once('connect', () => startBody(ureq));
  } else {
    startBody(this);
  }
}

function startBody(ureq: WithEx<http.ClientRequest>): void {
  const ex = ureq[kEx];
  if (ex === undefined || ex.ureq !== ureq || ex.state !== PROXYING) return;
  ex.bodyStarted = true;
  ex.req.pipe(ureq);
}

export function onUpResponse(this: WithEx<http.ClientRequest>, ures: WithEx<http.IncomingMessage>): void {
  const ex = this[kEx];
  if (ex === undefined || ex.ureq !== this || ex.state !== PROXYING) {
    ures.resume();
    return;
  }
  ex.router.headersArrived(ex);
  ex.ures = ures;
  ures[kEx] = ex;
  const res = ex.res;
  res.writeHead(ures.statusCode ?? 502, ex.hsts === null ? filterResponseHeaders(ures.rawHeaders) : withHsts(filterResponseHeaders(ures.rawHeaders), ex.hsts));
  // Knowing the length lets the last chunk go out with end(): one write instead of two steps.
  ex.remaining = ex.req.method === 'HEAD' ? -1 : contentLengthOf(ures.rawHeaders);
  ures.on('data', onUpData);
  ures.on('end', onUpEnd);
  ures.on('error', onUpBodyError);
}

function onUpData(this: WithEx<http.IncomingMessage>, chunk: Buffer): void {
  const ex = this[kEx]!;
  if (ex.remaining > 0) {
    ex.remaining -= chunk.length;
    if (ex.remaining === 0) {
      ex.res.end(chunk);
      return;
    }
  }
  if (!ex.res.write(chunk)) {
    this.pause();
    ex.res.once('drain', onResDrain);
  }
}

function onResDrain(this: WithEx<http.ServerResponse>): void {
  this[kEx]?.ures?.resume();
}

function onUpEnd(this: WithEx<http.IncomingMessage>): void {
  const ex = this[kEx]!;
  if (ex.state !== PROXYING) return;
  ex.state = DONE;
  // onUpData ended it when the last counted byte came; a Content-Length: 0 body has no data at all
  if (!ex.res.writableEnded) ex.res.end();
  ex.router.releaseUpstream(ex);
  ex.app.metrics.status(this.statusCode ?? 502, (performance.now() - ex.start) / 1000);
}

function onUpBodyError(this: WithEx<http.IncomingMessage>, err: NodeJS.ErrnoException): void {
  const ex = this[kEx]!;
  if (ex.state !== PROXYING || ex.ureq === null) return;
  ex.router.upstreamFailed(ex, ex.ureq, err);
}

export function onUpError(this: WithEx<http.ClientRequest>, err: NodeJS.ErrnoException): void {
  const ex = this[kEx];
  if (ex === undefined || ex.ureq !== this || ex.state !== PROXYING) return;
  ex.router.upstreamFailed(ex, this, err);
}

/** The app's own Strict-Transport-Security gives way to the manifest's (HAProxy's set-header). */
function withHsts(headers: string[], value: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i].length === 25 && headers[i].toLowerCase() === 'strict-transport-security') continue;
    out.push(headers[i], headers[i + 1]);
  }
  out.push('Strict-Transport-Security', value);
  return out;
}

export function onHoldTimeout(ex: Exchange): void {
  ex.router.holdTimedOut(ex);
}

/** A small plain-text response the router makes itself. */
export function plain(res: http.ServerResponse, status: number, body: string, retryAfter: number | undefined, unreadBody: boolean): void {
  if (res.headersSent || res.destroyed) return;
  const headers = ['Content-Type', 'text/plain; charset=utf-8', 'Content-Length', String(Buffer.byteLength(body)), 'Cache-Control', 'no-store'];
  if (retryAfter !== undefined) headers.push('Retry-After', String(retryAfter));
  // An unread request body would have to be read and thrown away to reuse the connection.
  if (unreadBody) {
    headers.push('Connection', 'close');
    const socket = res.req?.socket as (typeof res.req.socket & MaybeClosing) | null | undefined;
    if (socket) socket[kClosing] = true;
  }
  res.writeHead(status, headers);
  res.end(body);
}
