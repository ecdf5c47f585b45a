// Log drains: every line of an app's log (its instances' console output and Summon's own lines
// about it) is copied into a bounded buffer per drain the moment it is logged, and delivered
// from there asynchronously (syslog-delivery.ts, https-delivery.ts). Logging never waits for a
// receiver. Dropped lines are counted, reported as `drain.dropped` events (at most one per drain
// per `dropReportMs`, carrying the count) and shown by `summon drains`.
import { hostname as osHostname } from 'node:os';
import { InvalidInputError } from '../core/errors.js';
import type { EventBus } from '../control/event-bus.js';
import type { LogLine, LogStore } from '../control/log-store.js';
import { formatSize } from '../core/units.js';
import { systemResolver, type Resolver } from '../notify/webhook-targets.js';
import type { Drain, Store } from '../store/store.js';
import type { Delivery, DeliveryState, DrainState } from './delivery.js';
import { DrainBuffer } from './drain-buffer.js';
import { parseDrainUrl, type DrainTarget } from './drain-target.js';
import { HttpsDelivery } from './https-delivery.js';
import { jsonLine, SyslogFormatter, type Formatted } from './line-format.js';
import { SyslogDelivery } from './syslog-delivery.js';

export interface DrainSettings {
  /** `summon up --drains-allow-private`: loopback, private, link-local and metadata receivers too. */
  allowPrivate?: boolean;
  /** `summon up --drain-ca FILE`: CA certificates (PEM) trusted beside the system's, for syslog+tls and https. */
  ca?: string;
  /** Per drain: the newest this many lines (default 10,000) … */
  bufferLines?: number;
  /** … and at most this many bytes of them (default 4 MiB). */
  bufferBytes?: number;
  /** Reconnect / resend: first after retryBaseMs (default 500), doubling to retryMaxMs (default 30 s). */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Syslog: a written line counts as delivered once its connection outlived it by this (default 2 s). */
  confirmMs?: number;
  /** Connect (syslog) and request (https) timeout (default 10 s). */
  timeoutMs?: number;
  /** HTTPS: lines and bytes per POST (default 1,000 and 1 MiB), and how long a batch gathers (default 250 ms). */
  batchLines?: number;
  batchBytes?: number;
  flushMs?: number;
  /** At most one drain.dropped event per drain this often (default 10 s). */
  dropReportMs?: number;
  /** On stop, how long pending lines may take to go out (default 2 s). */
  closeGraceMs?: number;
  /** How host names are resolved (default dns.promises.lookup with all: true). */
  resolve?: Resolver;
  /** HOSTNAME in syslog messages (default this machine's). */
  hostname?: string;
}

export interface DrainManagerOptions extends DrainSettings {
  store: Store;
  logs: LogStore;
  events: EventBus;
  now?: () => number;
}

export interface DrainStatus {
  state: DrainState;
  /** Since when the drain is in this state. */
  since: number;
  lastError: string | null;
  /** Lines held: not sent yet, or sent and not known to have arrived. */
  buffered: number;
  bufferedBytes: number;
  /** Lines delivered since Summon started. */
  delivered: number;
  /** Lines pushed out of the full buffer, since Summon started, before they were known to have
   *  arrived: never sent, or (syslog) sent on a connection that broke within confirmMs. */
  dropped: number;
}

interface Running {
  drain: Drain;
  target: DrainTarget;
  buffer: DrainBuffer;
  delivery: Delivery;
  unreported: number;
  lastReportAt: number;
  reportTimer: NodeJS.Timeout | null;
  downReportedAt: number;
  downReported: boolean;
}

function int(name: string, v: number | undefined, dflt: number, min: number, max: number): number {
  const n = v ?? dflt;
  if (!Number.isInteger(n) || n < min || n > max) throw new InvalidInputError(`drains: ${name} must be a whole number from ${min} to ${max}, got ${String(v)}`);
  return n;
}

export class DrainManager {
  private readonly running = new Map<string, Running>();
  private readonly apps = new Map<string, { ids: Set<string>; unsubscribe: () => void }>();
  private readonly unsubscribeEvents: () => void;
  private readonly now: () => number;
  private readonly s: Required<Omit<DrainSettings, 'ca'>> & { ca: string | undefined };
  private readonly syslog: SyslogFormatter;
  private closed = false;
  /** Set while a line about drains themselves is being buffered (see onLine). */
  private quiet = false;

  constructor(private readonly o: DrainManagerOptions) {
    this.now = o.now ?? Date.now;
    if (o.allowPrivate !== undefined && typeof o.allowPrivate !== 'boolean') throw new InvalidInputError(`drains: allowPrivate must be true or false, got ${String(o.allowPrivate)}`);
    if (o.ca !== undefined && !/-----BEGIN CERTIFICATE-----/.test(o.ca)) throw new InvalidInputError('drains: ca must hold PEM certificates (-----BEGIN CERTIFICATE-----)');
    const retryBaseMs = int('retryBaseMs', o.retryBaseMs, 500, 1, 3_600_000);
    this.s = {
      allowPrivate: o.allowPrivate ?? false,
      ca: o.ca,
      bufferLines: int('bufferLines', o.bufferLines, 10_000, 1, 1_000_000),
      bufferBytes: int('bufferBytes', o.bufferBytes, 4 * 1024 * 1024, 64 * 1024, 1024 ** 3),
      retryBaseMs,
      retryMaxMs: int('retryMaxMs', o.retryMaxMs, Math.max(30_000, retryBaseMs), retryBaseMs, 3_600_000),
      confirmMs: int('confirmMs', o.confirmMs, 2_000, 0, 600_000),
      timeoutMs: int('timeoutMs', o.timeoutMs, 10_000, 1, 600_000),
      batchLines: int('batchLines', o.batchLines, 1_000, 1, 100_000),
      batchBytes: int('batchBytes', o.batchBytes, 1024 * 1024, 1024, 64 * 1024 * 1024),
      flushMs: int('flushMs', o.flushMs, 250, 0, 60_000),
      dropReportMs: int('dropReportMs', o.dropReportMs, 10_000, 0, 3_600_000),
      closeGraceMs: int('closeGraceMs', o.closeGraceMs, 2_000, 0, 60_000),
      resolve: o.resolve ?? systemResolver,
      hostname: o.hostname ?? (osHostname() || '-'),
    };
    this.syslog = new SyslogFormatter(this.s.hostname);
    this.unsubscribeEvents = o.events.subscribe((e) => {
      if (e.type === 'app.destroyed' && typeof e.data.app === 'string') void this.removeApp(e.data.app);
    });
  }

  /** Starts delivering every stored drain (called once at start). */
  async start(): Promise<void> {
    for (const app of await this.o.store.listApps()) {
      for (const d of await this.o.store.listDrains(app.name)) this.add(d);
    }
  }

  /** Starts delivering a drain: lines logged from now on are sent to it. */
  add(drain: Drain): void {
    if (this.closed || this.running.has(drain.id)) return;
    const target = parseDrainUrl(drain.url);
    let r!: Running;
    const buffer = new DrainBuffer({
      maxLines: this.s.bufferLines, maxBytes: this.s.bufferBytes,
      onDrop: (n) => this.dropped(r, n),
    });
    const common = {
      id: drain.id, app: drain.app, target, buffer, allowPrivate: this.s.allowPrivate, resolve: this.s.resolve,
      ...(this.s.ca ? { ca: this.s.ca } : {}),
      retryBaseMs: this.s.retryBaseMs, retryMaxMs: this.s.retryMaxMs, timeoutMs: this.s.timeoutMs, now: this.now,
      onState: (next: DeliveryState, prev: DeliveryState) => this.stateChanged(r, next, prev),
    };
    const delivery = target.kind === 'https'
      ? new HttpsDelivery({ ...common, batchLines: this.s.batchLines, batchBytes: this.s.batchBytes, flushMs: this.s.flushMs })
      : new SyslogDelivery({ ...common, confirmMs: this.s.confirmMs });
    r = { drain, target, buffer, delivery, unreported: 0, lastReportAt: 0, reportTimer: null, downReportedAt: 0, downReported: false };
    this.running.set(drain.id, r);
    let a = this.apps.get(drain.app);
    if (!a) {
      const ids = new Set<string>();
      a = { ids, unsubscribe: this.o.logs.subscribe(drain.app, (line) => this.onLine(ids, line)) };
      this.apps.set(drain.app, a);
    }
    a.ids.add(drain.id);
    delivery.start();
  }

  private onLine(ids: Set<string>, line: LogLine): void {
    // Each form is made once per line, whatever the number of drains wanting it.
    let frame: Formatted | undefined;
    let json: Formatted | undefined;
    // A drain.dropped report is itself a line of the app: pushed into a full buffer it drops
    // another line, whose report would drop another, every dropReportMs for as long as the
    // receiver is away. Drops made room for such lines are counted, and told with the next
    // report that something else causes.
    this.quiet = line.source === 'summon' && line.proc === 'drain';
    try {
      for (const id of ids) {
        const r = this.running.get(id);
        if (!r) continue;
        r.buffer.push(r.target.kind === 'https' ? (json ??= jsonLine(line)) : (frame ??= this.syslog.frame(line)));
        r.delivery.kick();
      }
    } finally {
      this.quiet = false;
    }
  }

  status(id: string): DrainStatus | null {
    const r = this.running.get(id);
    if (!r) return null;
    const c = r.delivery.current;
    return {
      state: c.state, since: c.since, lastError: c.lastError,
      buffered: r.buffer.lines, bufferedBytes: r.buffer.bytes, delivered: r.buffer.delivered, dropped: r.buffer.dropped,
    };
  }

  /** Stops a drain; what its buffer holds is discarded. */
  async remove(id: string): Promise<void> {
    const r = this.running.get(id);
    if (!r) return;
    this.running.delete(id);
    if (r.reportTimer) clearTimeout(r.reportTimer);
    const a = this.apps.get(r.drain.app);
    if (a) {
      a.ids.delete(id);
      if (!a.ids.size) {
        a.unsubscribe();
        this.apps.delete(r.drain.app);
      }
    }
    await r.delivery.close(0);
  }

  async removeApp(app: string): Promise<void> {
    const ids = [...(this.apps.get(app)?.ids ?? [])];
    await Promise.all(ids.map((id) => this.remove(id)));
  }

  private shown(r: Running): string {
    return `log drain ${r.drain.id} (${r.drain.url})`;
  }

  private dropped(r: Running, n: number): void {
    r.unreported += n;
    if (r.reportTimer || this.closed || this.quiet) return;
    // Never from inside the buffer's push: the event is itself a log line of the same app.
    const wait = Math.max(0, r.lastReportAt + this.s.dropReportMs - this.now());
    r.reportTimer = setTimeout(() => this.reportDrops(r), wait);
    r.reportTimer.unref();
  }

  private reportDrops(r: Running): void {
    r.reportTimer = null;
    if (!r.unreported || !this.running.has(r.drain.id)) return;
    const n = r.unreported;
    r.unreported = 0;
    r.lastReportAt = this.now();
    const c = r.delivery.current;
    const why = c.state === 'down' ? `its receiver is unreachable (${c.lastError})` : 'its receiver takes lines more slowly than the app logs them';
    void this.o.events.emit(r.drain.app, 'drain.dropped',
      `${this.shown(r)} dropped ${n} line${n === 1 ? '' : 's'}: ${why}; the buffer keeps the newest ${this.s.bufferLines} lines or ${formatSize(this.s.bufferBytes)} ` +
      `(${r.buffer.dropped} dropped since Summon started)`,
      { drain: r.drain.id, url: r.drain.url, dropped: n, total: r.buffer.dropped, bufferLines: this.s.bufferLines, bufferBytes: this.s.bufferBytes });
  }

  private stateChanged(r: Running, next: DeliveryState, prev: DeliveryState): void {
    if (this.closed || !this.running.has(r.drain.id)) return;
    if (next.state === 'down' && prev.state !== 'down' && this.now() - r.downReportedAt >= this.s.dropReportMs) {
      // Once per outage (and at most once per dropReportMs for a receiver that keeps flapping).
      r.downReportedAt = this.now();
      r.downReported = true;
      void this.o.events.emit(r.drain.app, 'drain.down',
        `${this.shown(r)} cannot deliver: ${next.lastError}; retrying with backoff, the newest ${this.s.bufferLines} lines are kept meanwhile`,
        { drain: r.drain.id, url: r.drain.url, error: next.lastError });
    } else if (next.state === 'up' && r.downReported) {
      r.downReported = false;
      void this.o.events.emit(r.drain.app, 'drain.up', `${this.shown(r)} delivers again (${r.buffer.lines} lines buffered)`,
        { drain: r.drain.id, url: r.drain.url, buffered: r.buffer.lines });
    }
  }

  /** Stops every drain, giving pending lines `closeGraceMs` to go out. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribeEvents();
    for (const a of this.apps.values()) a.unsubscribe();
    this.apps.clear();
    const all = [...this.running.values()];
    this.running.clear();
    for (const r of all) if (r.reportTimer) clearTimeout(r.reportTimer);
    await Promise.all(all.map((r) => r.delivery.close(this.s.closeGraceMs)));
  }
}
