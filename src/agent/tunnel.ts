// The link of a host that dials out (`summon agent --join`): one WebSocket from the agent to
// the control plane, over the control plane's pinned TLS, carrying many byte streams. The
// control plane opens a stream for each HTTP connection of the agent protocol it would have
// opened to the agent (agent-server.ts: hello, PUT /v1/desired, the /v1/stream of statuses,
// events and console lines, with its cursor and backlog), and the agent hands each stream to
// its AgentServer as if it had been accepted on a port. So a joined host speaks exactly the
// protocol a dialed-in one does, over a connection it opened itself: no inbound port.
//
// Frames: binary [u32 stream id][bytes] carries data; text JSON {t:'open'|'end'|'close', s}
// opens a stream, ends its writing side, or destroys it. A stream's write completes when the
// WebSocket has handed the frame to its socket, so a reader that stops (the SSE writer's
// bounds, core/sse-writer.ts) is felt at the writer as on a TCP connection.
import { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';

type Control = { t: 'open' | 'end' | 'close'; s: number; port?: number };

/** A stream of the tunnel, shaped enough like a net.Socket for node:http on either side. */
export class TunnelStream extends Duplex {
  readonly remoteAddress: string;
  readonly remotePort = 0;
  readonly encrypted = true;
  private idle: NodeJS.Timeout | null = null;
  private idleMs = 0;

  constructor(private readonly mux: Tunnel, readonly sid: number, remoteAddress: string) {
    super({ allowHalfOpen: true });
    this.remoteAddress = remoteAddress;
  }

  override _read(): void {
    // Data is pushed as frames arrive.
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.touch();
    this.mux.sendData(this.sid, chunk, cb);
  }

  override _final(cb: (e?: Error | null) => void): void {
    this.mux.sendControl({ t: 'end', s: this.sid });
    cb();
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    if (this.idle) clearTimeout(this.idle);
    this.mux.forget(this.sid);
    cb(err);
  }

  /** Bytes from the other side. */
  deliver(data: Buffer): void {
    this.touch();
    this.push(data);
  }

  // What node:http asks of a socket.
  setTimeout(ms: number, cb?: () => void): this {
    this.idleMs = ms;
    if (cb) this.once('timeout', cb);
    this.touch();
    return this;
  }

  private touch(): void {
    if (this.idle) clearTimeout(this.idle);
    this.idle = null;
    if (this.idleMs > 0 && !this.destroyed) {
      this.idle = setTimeout(() => this.emit('timeout'), this.idleMs);
      this.idle.unref();
    }
  }

  setNoDelay(): this { return this; }
  setKeepAlive(): this { return this; }
  ref(): this { return this; }
  unref(): this { return this; }
}

export class Tunnel {
  private readonly streams = new Map<number, TunnelStream>();
  private next = 1;
  private closedWhy: string | null = null;
  private readonly closeHandlers: ((why: string) => void)[] = [];

  /**
   * @param onStream the accepting side's handler for a stream the other side opened (the
   *   agent: its AgentServer); absent on the side that only opens them (the control plane).
   */
  constructor(private readonly ws: WebSocket, private readonly peer: string, private readonly onStream?: (s: TunnelStream, port?: number) => void) {
    ws.on('message', (data: Buffer, isBinary: boolean) => this.receive(data, isBinary));
    ws.on('close', (code: number, reason: Buffer) => this.closed(`the link closed (${code}${reason.length ? ` ${reason.toString()}` : ''})`));
    ws.on('error', (e: Error) => this.closed(`the link failed: ${e.message}`));
  }

  get open(): boolean {
    return this.closedWhy === null;
  }

  /** A new stream to the other side (its onStream gets it); with `port`, to that TCP port on
   *  the other side's loopback (the router reaching an instance). */
  openStream(port?: number): TunnelStream {
    const s = new TunnelStream(this, this.next++, this.peer);
    if (!this.open) {
      process.nextTick(() => s.destroy(new Error(this.closedWhy ?? 'the link is closed')));
      return s;
    }
    this.streams.set(s.sid, s);
    this.sendControl({ t: 'open', s: s.sid, ...(port ? { port } : {}) });
    return s;
  }

  onClose(f: (why: string) => void): void {
    if (this.closedWhy !== null) f(this.closedWhy);
    else this.closeHandlers.push(f);
  }

  close(code = 1000, reason = ''): void {
    this.ws.close(code, reason);
    this.closed(reason || 'closed');
  }

  sendData(sid: number, chunk: Buffer, cb: (e?: Error | null) => void): void {
    if (!this.open) return cb(new Error(this.closedWhy ?? 'the link is closed'));
    const head = Buffer.allocUnsafe(4);
    head.writeUInt32BE(sid, 0);
    this.ws.send(Buffer.concat([head, chunk]), { binary: true }, (e) => cb(e ?? null));
  }

  sendControl(c: Control): void {
    if (this.open) this.ws.send(JSON.stringify(c));
  }

  forget(sid: number): void {
    if (this.streams.delete(sid)) this.sendControl({ t: 'close', s: sid });
  }

  private receive(data: Buffer, isBinary: boolean): void {
    if (isBinary) {
      if (data.length < 4) return;
      this.streams.get(data.readUInt32BE(0))?.deliver(data.subarray(4));
      return;
    }
    let c: Control;
    try {
      c = JSON.parse(data.toString('utf8')) as Control;
    } catch {
      return;
    }
    if (c.t === 'open' && this.onStream && !this.streams.has(c.s)) {
      const s = new TunnelStream(this, c.s, this.peer);
      this.streams.set(c.s, s);
      this.onStream(s, typeof c.port === 'number' ? c.port : undefined);
    } else if (c.t === 'end') {
      this.streams.get(c.s)?.push(null);
    } else if (c.t === 'close') {
      const s = this.streams.get(c.s);
      this.streams.delete(c.s);
      s?.destroy();
    }
  }

  private closed(why: string): void {
    if (this.closedWhy !== null) return;
    this.closedWhy = why;
    // Told first, so what it says is the reason rather than a stream's own 'aborted'.
    for (const f of this.closeHandlers.splice(0)) f(why);
    for (const s of this.streams.values()) s.destroy(new Error(why));
    this.streams.clear();
  }
}
