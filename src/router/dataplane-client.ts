// The control plane's side of the data plane process (dataplane.ts): finds the one a previous
// run left (DATA/dataplane.sock) and adopts it when it speaks the same protocol with the same
// settings, or starts one; then mirrors the route table to it and keeps, from what it
// reports, the figures the controller and the metrics read synchronously (in flight per
// instance, per-app stats, counters). A route change counts every instance as busy until the
// data plane has acknowledged it, so a drain never ends on a figure older than the change.
import { spawn } from 'node:child_process';
import { openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AppRoute, RouterEvent, RouterMetrics } from './router.js';
import type { EdgeState } from './edge-types.js';
import { configKey, DATA_PLANE_PROTOCOL, pidFileOf, type DataPlaneConfig } from './dataplane.js';
import type { Logger } from '../logging/logger.js';

const here = dirname(fileURLToPath(import.meta.url));
const START_TIMEOUT_MS = 15_000;

export interface DataPlaneClientOptions extends Omit<DataPlaneConfig, 'socket'> {
  dataDir: string;
  onWake: (app: string) => void;
  onEvent: (e: RouterEvent) => void;
  logger: Logger;
}

interface Hello {
  t: 'hello';
  protocol: number;
  version: string;
  pid: number;
  port: number;
  /** Absent from a data plane older than HTTPS (which has none). */
  httpsPort?: number | null;
  config: string;
  apps: string[];
  waking: string[];
  /** Absent from a data plane older than the choice: the Node router. */
  dataPlane?: 'node' | 'haproxy';
  haproxy?: string;
}

type Msg = { t: string; [k: string]: unknown };

function dial(path: string): Promise<Socket | null> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => resolve(s));
    s.once('error', () => resolve(null));
  });
}

export class DataPlaneClient {
  private sock: Socket | null = null;
  private hello: Hello | null = null;
  private seq = 0;
  private unacked = 0;
  private busy: Record<string, number> = {};
  private readonly stats = new Map<string, { inflight: number; held: number; lastRequestAt: number | null }>();
  private readonly counters = new Map<string, RouterMetrics['apps'][string]>();
  private unrouted = 0;
  /** The table as last set, sent again in full to a data plane that was replaced. */
  private readonly routes = new Map<string, AppRoute>();
  /** The edge state as last set, sent again whole to a data plane that was replaced. */
  private edge: EdgeState | null = null;
  private closed = false;
  /** How this start came by its data plane: adopted (with its pid and version) or started. */
  origin: { adopted: boolean; pid: number; version: string; replaced?: string } = { adopted: false, pid: 0, version: '' };

  private constructor(private readonly o: DataPlaneClientOptions) {}

  get socketPath(): string {
    return join(this.o.dataDir, 'dataplane.sock');
  }

  get port(): number {
    return this.hello?.port ?? 0;
  }

  /** Where HTTPS listens, null when it is off. */
  get httpsPort(): number | null {
    return this.hello?.httpsPort ?? null;
  }

  /** Which data plane runs: 'node', or 'haproxy' with HAProxy's version. */
  get kind(): { dataPlane: 'node' | 'haproxy'; haproxy?: string } {
    const h = this.hello;
    return h?.dataPlane === 'haproxy' ? { dataPlane: 'haproxy', ...(h.haproxy ? { haproxy: h.haproxy } : {}) } : { dataPlane: 'node' };
  }

  /** Adopts the running data plane or starts one; resolves once it listens. */
  static async open(o: DataPlaneClientOptions): Promise<DataPlaneClient> {
    const c = new DataPlaneClient(o);
    await c.connectOrStart();
    return c;
  }

  private async connectOrStart(): Promise<void> {
    let s = await dial(this.socketPath);
    let replaced: string | undefined;
    if (s) {
      const h = await this.greet(s);
      const want = configKey(this.o);
      const why = !h ? 'it did not answer'
        : h.protocol !== DATA_PLANE_PROTOCOL ? `it speaks protocol ${h.protocol}, this Summon ${DATA_PLANE_PROTOCOL}`
          : h.config !== want ? 'its settings (--host, --domain, --hold-*, client limits, HTTPS on or off, --data-plane) differ'
            : this.o.port !== 0 && h.port !== this.o.port ? `it listens on port ${h.port}, not ${this.o.port}`
              : this.o.httpsPort && h.httpsPort !== this.o.httpsPort ? `its HTTPS listens on port ${String(h.httpsPort)}, not ${this.o.httpsPort}` : null;
      if (h && why === null) {
        this.attach(s, h);
        this.origin = { adopted: true, pid: h.pid, version: h.version };
        return;
      }
      replaced = `replaced the running data plane${h ? ` (pid ${h.pid}, Summon ${h.version})` : ''}: ${why}`;
      this.o.logger.warn(replaced);
      s.write(`${JSON.stringify({ t: 'stop' })}\n`);
      await new Promise<void>((r) => {
        s!.once('close', () => r());
        setTimeout(() => {
          s!.destroy();
          r();
        }, 5000).unref();
      });
    }
    // One that did not answer, or did not go when told, must not hold the port (or run on).
    await this.killStray(replaced ? 2000 : 0);
    s = await this.start();
    const h = await this.greet(s);
    if (!h) throw new Error('the data plane started but did not answer on its control socket');
    this.attach(s, h);
    this.origin = { adopted: false, pid: h.pid, version: h.version, ...(replaced ? { replaced } : {}) };
  }

  /** Starts the data plane process in a session of its own and connects to it. */
  private async start(): Promise<Socket> {
    const cfg: DataPlaneConfig = {
      port: this.o.port, domains: this.o.domains, socket: this.socketPath, version: this.o.version,
      ...(this.o.host ? { host: this.o.host } : {}),
      ...(this.o.hold ? { hold: this.o.hold } : {}),
      ...(this.o.client ? { client: this.o.client } : {}),
      ...(this.o.httpsPort != null ? { httpsPort: this.o.httpsPort } : {}),
      ...(this.o.dataPlane ? { dataPlane: this.o.dataPlane } : {}),
      ...(this.o.haproxySpares ? { haproxySpares: this.o.haproxySpares } : {}),
    };
    const logFd = openSync(join(this.o.dataDir, 'dataplane.log'), 'a', 0o600);
    const child = spawn(process.execPath, [join(here, 'dataplane-main.js'), JSON.stringify(cfg)], {
      detached: true, stdio: ['ignore', 'pipe', logFd], cwd: '/', // a daemon pins no directory
    });
    closeSync(logFd);
    let out = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (c: string) => (out += c));
    const ready = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), START_TIMEOUT_MS);
      child.stdout!.on('data', () => {
        if (out.includes('\n')) {
          clearTimeout(timer);
          resolve(true);
        }
      });
      child.once('exit', () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    if (!ready) {
      child.kill('SIGKILL');
      throw new Error(`the data plane did not start (its log: ${join(this.o.dataDir, 'dataplane.log')}); is --router-port ${this.o.port}${this.o.httpsPort ? ` (or --https-port ${this.o.httpsPort})` : ''} free?`);
    }
    child.stdout!.destroy();
    child.unref();
    const s = await dial(this.socketPath);
    if (!s) throw new Error(`the data plane started but its control socket ${this.socketPath} refuses connections`);
    return s;
  }

  private greet(s: Socket): Promise<Hello | null> {
    return new Promise((resolve) => {
      let buf = '';
      const timer = setTimeout(() => done(null), 5000);
      const onData = (chunk: Buffer) => {
        buf += chunk.toString('utf8');
        const nl = buf.indexOf('\n');
        if (nl < 0) return;
        let m: Hello | null = null;
        try {
          m = JSON.parse(buf.slice(0, nl)) as Hello;
        } catch {
          // not a hello
        }
        done(m?.t === 'hello' ? m : null);
        // What came after the hello is for the reader attach() installs (put back once this
        // listener is off, or it would read it again).
        if (nl + 1 < buf.length) s.unshift(Buffer.from(buf.slice(nl + 1)));
      };
      const done = (h: Hello | null) => {
        clearTimeout(timer);
        s.off('data', onData);
        s.pause();
        resolve(h);
      };
      s.on('data', onData);
      s.write(`${JSON.stringify({ t: 'hello' })}\n`);
    });
  }

  private attach(s: Socket, h: Hello): void {
    this.sock = s;
    this.hello = h;
    this.unacked = 0;
    s.setEncoding('utf8');
    let buf = '';
    s.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line) this.onMessage(JSON.parse(line) as Msg);
      }
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      if (this.sock !== s || this.closed) return;
      this.sock = null;
      this.o.logger.warn('the data plane went away: starting it again');
      void this.connectOrStart().then(() => {
        // A new data plane has an empty table: everything is sent again.
        for (const [app, route] of this.routes) this.send({ t: 'route', seq: ++this.seq, app, route }, true);
        if (this.edge) this.send({ t: 'edge', seq: ++this.seq, edge: this.edge }, true);
      }, (err: unknown) => this.o.logger.error({ err }, 'the data plane could not be started again: apps are unreachable'));
    });
    s.resume();
    // Requests held while no control plane was there are waiting for their apps to wake.
    for (const app of h.waking) this.o.onWake(app);
  }

  private onMessage(m: Msg): void {
    switch (m.t) {
      case 'ack':
        this.unacked = Math.max(0, this.unacked - 1);
        this.busy = m.busy as Record<string, number>;
        if (m.error) this.o.logger.warn({ error: m.error }, 'the data plane refused a route update');
        return;
      case 'idle':
        delete this.busy[String(m.id)];
        return;
      case 'wake':
        this.o.onWake(String(m.app));
        return;
      case 'event':
        this.o.onEvent(m.e as RouterEvent);
        return;
      case 'stats': {
        for (const [app, st] of Object.entries(m.apps as Record<string, { inflight: number; held: number; lastRequestAt: number | null }>)) this.stats.set(app, st);
        if (this.unacked === 0) this.busy = m.busy as Record<string, number>;
        const metrics = m.metrics as RouterMetrics | undefined;
        if (metrics) {
          for (const [app, snap] of Object.entries(metrics.apps)) this.counters.set(app, snap);
          this.unrouted = metrics.unrouted;
        }
        return;
      }
      default:
    }
  }

  private send(m: Msg, counted: boolean): void {
    if (counted) this.unacked++;
    if (!this.sock || this.sock.destroyed) return; // sent again in full on reconnect
    this.sock.write(`${JSON.stringify(m)}\n`);
  }

  // ── the controller's RouterPort ─────────────────────────────────────────

  setRoute(app: string, route: AppRoute): void {
    this.routes.set(app, route);
    this.send({ t: 'route', seq: ++this.seq, app, route }, true);
  }

  deleteRoute(app: string): void {
    this.routes.delete(app);
    this.stats.delete(app);
    this.counters.delete(app);
    this.send({ t: 'delete', seq: ++this.seq, app }, true);
  }

  /** The whole edge state (custom domains, certificates, ACME answers, policies), acked like a route. */
  setEdge(edge: EdgeState): void {
    this.edge = edge;
    this.send({ t: 'edge', seq: ++this.seq, edge }, true);
  }

  /** Drops what the data plane still routes that this control plane does not know (apps
   *  destroyed while it was away); called once the controller has set every route. */
  sync(): void {
    this.send({ t: 'sync', seq: ++this.seq, apps: [...this.routes.keys()] }, true);
  }

  inflight(instanceId: string): number {
    const n = this.busy[instanceId] ?? 0;
    return this.unacked > 0 ? Math.max(1, n) : n;
  }

  appStats(app: string): { inflight: number; held: number; lastRequestAt: number | null } {
    return this.stats.get(app) ?? { inflight: 0, held: 0, lastRequestAt: null };
  }

  /** The counters as last reported (an app shows once it has any); `answeredOnly` as
   *  Router.metrics: only apps that have been sent a request. */
  metrics(o: { answeredOnly?: boolean } = {}): RouterMetrics {
    const apps: RouterMetrics['apps'] = {};
    for (const [name, m] of this.counters) {
      const r = m.requests;
      if (o.answeredOnly && r['1xx'] + r['2xx'] + r['3xx'] + r['4xx'] + r['5xx'] === 0) continue;
      apps[name] = m;
    }
    return { apps, unrouted: this.unrouted };
  }

  /** Lets go of the data plane, which goes on serving (`stop`: tells it to stop first). */
  async close(o: { stop: boolean }): Promise<void> {
    this.closed = true;
    const s = this.sock;
    if (!s || s.destroyed) return;
    if (o.stop) s.write(`${JSON.stringify({ t: 'stop' })}\n`);
    else s.end();
    await new Promise<void>((r) => {
      if (s.destroyed) return r();
      s.once('close', () => r());
      setTimeout(() => {
        s.destroy();
        r();
      }, 5000).unref();
    });
    // Stopped: the process is gone before this returns (nothing of Summon outlives the stop).
    if (o.stop) await this.killStray(5000);
  }

  /** Ends the data plane process named by DATA/dataplane.pid, if one still runs: asked to
   *  stop, it has `graceMs` to go; then SIGKILL. */
  private async killStray(graceMs = 0): Promise<void> {
    const file = pidFileOf(this.socketPath);
    let pid: number;
    try {
      pid = Number(readFileSync(file, 'utf8').trim());
    } catch {
      return;
    }
    if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid || !isDataPlane(pid)) {
      rmSync(file, { force: true });
      return;
    }
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline && isDataPlane(pid)) await new Promise((r) => setTimeout(r, 20));
    if (isDataPlane(pid)) {
      this.o.logger.warn({ pid }, 'a data plane that did not answer or did not stop when told: killed');
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
      const until = Date.now() + 2000;
      while (Date.now() < until && isDataPlane(pid)) await new Promise((r) => setTimeout(r, 10));
    }
    rmSync(file, { force: true });
  }
}

/** `pid` runs the data plane's entry (not a zombie, not a reused pid). */
function isDataPlane(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return false;
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('dataplane-main.js');
  } catch {
    return false;
  }
}

