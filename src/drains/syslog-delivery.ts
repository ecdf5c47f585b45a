// A syslog drain: one TCP (or TLS, verified) connection to the receiver, kept open, carrying
// RFC 6587 octet-counted frames. Reconnects with backoff whenever it goes away.
//
// Syslog over TCP has no acknowledgement: a line written to the socket may still die in this
// host's send buffer, on the wire, or in the receiver's memory when it is killed. So a written
// line stays in the buffer, in flight, until the connection has outlived it by `confirmMs`;
// when the connection breaks, every line still in flight is sent again on the next one. A
// receiver that restarts gets every line the buffer held, some of them twice.
//
// Writes follow the socket's backpressure: pending lines stay in the bounded drain buffer, not
// in the socket's, so a slow receiver makes the buffer drop its oldest lines rather than grow
// Summon's memory.
import net from 'node:net';
import tls from 'node:tls';
import { backoffMs, describeError, type Delivery, type DeliveryOptions, type DeliveryState } from './delivery.js';
import { resolveDrainHost } from './drain-target.js';

export interface SyslogDeliveryOptions extends DeliveryOptions {
  /** How long a connection must outlive a written line before it counts as delivered. */
  confirmMs: number;
}

/** Lines per write: enough to make each syscall count, small enough to follow backpressure. */
const WRITE_LINES = 1024;
const WRITE_BYTES = 64 * 1024;

export class SyslogDelivery implements Delivery {
  private socket: net.Socket | null = null;
  private connectedAt = 0;
  private closed = false;
  private attempt = 0;
  private lastError: string | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private confirmTimer: NodeJS.Timeout | null = null;
  private scheduled = false;
  current: DeliveryState;

  constructor(private readonly o: SyslogDeliveryOptions) {
    this.current = { state: 'starting', since: o.now(), lastError: null };
  }

  start(): void {
    void this.connect();
  }

  kick(): void {
    // Lines logged in one tick go out in one write.
    if (this.scheduled || !this.connectedAt) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private setState(state: DeliveryState['state'], lastError: string | null): void {
    const prev = this.current;
    if (prev.state === state && prev.lastError === lastError) return;
    this.current = { state, since: prev.state === state ? prev.since : this.o.now(), lastError };
    this.o.onState(this.current, prev);
  }

  private async connect(): Promise<void> {
    this.retryTimer = null;
    if (this.closed) return;
    const t = this.o.target;
    let addresses;
    try {
      addresses = await resolveDrainHost(t, { allowPrivate: this.o.allowPrivate, resolve: this.o.resolve });
    } catch (e) {
      return this.retry(describeError(e, t));
    }
    if (this.closed) return;
    // One address per attempt, in turn: a name with a dead address still gets through.
    const a = addresses[this.attempt % addresses.length];
    this.lastError = null;
    const sock = t.kind === 'syslog+tls'
      ? tls.connect({
        host: a.address, port: t.port,
        ...(net.isIP(t.host) ? {} : { servername: t.host }),
        ...(this.o.ca ? { ca: [...tls.rootCertificates, this.o.ca] } : {}),
      })
      : net.connect({ host: a.address, port: t.port, family: a.family });
    this.socket = sock;
    sock.setTimeout(this.o.timeoutMs, () => sock.destroy(new Error(`no connection within ${this.o.timeoutMs} ms`)));
    sock.once(t.kind === 'syslog+tls' ? 'secureConnect' : 'connect', () => {
      sock.setTimeout(0);
      // Notices a receiver host that vanished while the drain is idle.
      sock.setKeepAlive(true, 30_000);
      this.connectedAt = this.o.now();
      this.setState('up', null);
      this.pump();
    });
    sock.on('drain', () => this.pump());
    // Receivers send nothing; whatever comes is read and dropped so it cannot fill a buffer.
    sock.on('data', () => undefined);
    sock.on('end', () => {
      this.lastError ??= 'the receiver closed the connection';
      sock.destroy();
    });
    sock.on('error', (e) => {
      this.lastError ??= describeError(e, t);
    });
    sock.on('close', () => this.lost(sock));
  }

  private lost(sock: net.Socket): void {
    if (this.socket !== sock) return;
    this.socket = null;
    const now = this.o.now();
    const lasted = this.connectedAt ? now - this.connectedAt : 0;
    this.connectedAt = 0;
    this.stopConfirming();
    this.o.buffer.confirmSentBefore(now - this.o.confirmMs);
    this.o.buffer.requeue();
    if (this.closed) return;
    // A connection that carried lines for a while worked: the backoff starts over.
    if (lasted >= this.o.confirmMs) this.attempt = 0;
    this.retry(this.lastError ?? 'the connection closed');
  }

  private retry(error: string): void {
    if (this.closed) return;
    this.attempt += 1;
    this.setState('down', error);
    this.retryTimer = setTimeout(() => void this.connect(), backoffMs(this.attempt, this.o.retryBaseMs, this.o.retryMaxMs));
  }

  private pump(): void {
    const sock = this.socket;
    if (!sock || !this.connectedAt || sock.destroyed) return;
    const b = this.o.buffer;
    this.confirm();
    while (!sock.writableNeedDrain && b.pending > 0) this.write(sock, WRITE_LINES, WRITE_BYTES);
    if (b.inFlight > 0 && !this.confirmTimer) {
      this.confirmTimer = setInterval(() => {
        this.confirm();
        if (b.inFlight === 0) this.stopConfirming();
      }, Math.max(20, Math.floor(this.o.confirmMs / 4)));
      this.confirmTimer.unref();
    }
  }

  private write(sock: net.Socket, lines: number, bytes: number): void {
    const batch = this.o.buffer.take(lines, bytes);
    const chunk = batch.length === 1 ? batch[0].data : batch.map((l) => l.data).join('');
    sock.write(chunk, (err) => {
      if (err) return;
      const at = this.o.now();
      for (const l of batch) l.sentAt = at;
    });
  }

  private confirm(): void {
    this.o.buffer.confirmSentBefore(this.o.now() - this.o.confirmMs);
  }

  private stopConfirming(): void {
    if (this.confirmTimer) clearInterval(this.confirmTimer);
    this.confirmTimer = null;
  }

  async close(graceMs: number): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.stopConfirming();
    const sock = this.socket;
    if (!sock) return;
    const gone = new Promise<void>((resolve) => sock.once('close', () => resolve()));
    if (this.connectedAt && !sock.destroyed) {
      // Whatever is pending goes out behind what is queued, then the connection ends cleanly.
      while (this.o.buffer.pending > 0) this.write(sock, Infinity, Infinity);
      sock.end();
    } else {
      sock.destroy();
    }
    const timer = setTimeout(() => sock.destroy(), graceMs);
    await gone;
    clearTimeout(timer);
  }
}
