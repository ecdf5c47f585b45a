// HAProxy programmed as Summon's data plane, without reloads on the usual path:
//   - an app with a route gets one of the pre-created backends `app_N`; its hosts go into the
//     host map (`add map`/`set map`/`del map` on the running HAProxy, and written to the file);
//   - its instances are dynamic servers (`add server … pool-max-conn -1 pool-purge-delay 5s`
//     then `enable server`; never the `enabled` keyword, haproxy#2497);
//   - a removed instance is drained (`set server … state drain`) until `show stat` shows no
//     current session on it, then reported idle, put in maintenance and deleted (`del server`
//     refuses while connections remain: retried on every poll);
//   - when the spare backends run out, their number doubles and HAProxy reloads (hitless in
//     master-worker mode) from a configuration that holds every current server and map entry.
// Counters come from HAProxy's Prometheus exporter (fe_stats on loopback), turned into the
// per-app snapshots the Node router reports, so /metrics and the dashboard read the same shape.
import { chmodSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import type { AppRoute } from '../router.js';
import { AppMetrics, type AppMetricsSnapshot } from '../metrics.js';
import { EMPTY_EDGE, type EdgeState } from '../edge-types.js';
import { backendName, renderConfig, renderMap, serverNameOf, SERVER_OPTS, type RenderedServer } from './config.js';
import { HaproxyProcess, stopStrayMaster } from './process.js';
import { must, parsePromBackends, parseShowStat, SocketRuntime } from './runtime.js';

export interface HaproxyPlaneOptions {
  /** DATA/haproxy (made 0700). */
  dir: string;
  host: string;
  port: number;
  holderPort: number;
  statsPort: number;
  /** Apps are NAME.<domain> for each. */
  domains: string[];
  maxConnections: number;
  maxConnectionsPerAddress?: number;
  headerTimeoutMs: number;
  idleTimeoutMs: number;
  serverTimeoutMs: number;
  /** App backends made at start (doubled, with a reload, when they run out); default 32. */
  spares?: number;
  threads?: number;
  now: () => number;
  log: (msg: string) => void;
  /** A drained instance has no session left in HAProxy. */
  onIdle: (id: string) => void;
}

interface Srv extends RenderedServer {
  id: string;
}

interface AppState {
  backend: number;
  servers: Map<string, Srv>; // by instance id
  hosts: string[];
  lastReq: number;
  lastRequestAt: number | null;
  scur: number;
}

interface Draining extends Srv {
  backend: number;
  phase: 'drain' | 'maint';
}

const POLL_MS = 200;
const METRICS_MS = 1000;

export class HaproxyPlane {
  readonly files: { cfg: string; hostMap: string; forceHttpsMap: string; hstsMap: string; admin: string; master: string; pid: string };
  private readonly rt: SocketRuntime;
  private readonly proc: HaproxyProcess;
  private nBackends: number;
  private readonly free: number[] = [];
  /** Backends whose app went while servers still drain in them. */
  private readonly pendingFree = new Set<number>();
  private readonly apps = new Map<string, AppState>();
  private readonly draining = new Map<string, Draining>(); // by `${backend}/${name}`
  private readonly hostMap = new Map<string, string>();
  private busyNow: Record<string, number> = {};
  private readonly counters = new Map<string, AppMetrics>();
  /** Per backend: the exporter's figures last seen (deltas go to the app that has it). */
  private readonly base = new Map<string, { hrsp: number[]; retries: number; connErrors: number; respErrors: number }>();
  private pollTimer: NodeJS.Timeout | null = null;
  private metricsTimer: NodeJS.Timeout | null = null;
  private edge: EdgeState = EMPTY_EDGE;
  private closed = false;
  private restarting: Promise<void> | null = null;
  reloads = 0;

  private constructor(private readonly o: HaproxyPlaneOptions) {
    mkdirSync(o.dir, { recursive: true, mode: 0o700 });
    chmodSync(o.dir, 0o700);
    this.files = {
      cfg: join(o.dir, 'haproxy.cfg'), hostMap: join(o.dir, 'hosts.map'), forceHttpsMap: join(o.dir, 'force-https.map'),
      hstsMap: join(o.dir, 'hsts.map'), admin: join(o.dir, 'admin.sock'), master: join(o.dir, 'master.sock'), pid: join(o.dir, 'master.pid'),
    };
    this.rt = new SocketRuntime(this.files.admin);
    this.nBackends = o.spares ?? 32;
    for (let i = this.nBackends - 1; i >= 0; i--) this.free.push(i);
    this.proc = new HaproxyProcess({
      cfg: this.files.cfg, masterSocket: this.files.master, pidFile: this.files.pid, log: o.log,
      onExit: (code, signal) => {
        if (this.closed) return;
        o.log(`haproxy exited unexpectedly (${signal ?? `code ${code}`}): starting it again with the current table`);
        this.restarting = this.launch().catch((e: Error) => o.log(`haproxy could not be started again: ${e.message}`)).finally(() => (this.restarting = null));
      },
    });
  }

  static async start(o: HaproxyPlaneOptions): Promise<HaproxyPlane> {
    const p = new HaproxyPlane(o);
    if (await stopStrayMaster(p.files.pid, p.files.cfg)) o.log('stopped the haproxy a previous data plane left running');
    await p.launch();
    p.pollTimer = setInterval(() => void p.poll().catch(() => undefined), POLL_MS);
    p.metricsTimer = setInterval(() => void p.scrape().catch(() => undefined), METRICS_MS);
    p.pollTimer.unref();
    p.metricsTimer.unref();
    return p;
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  private writeAtomic(path: string, text: string): void {
    writeFileSync(`${path}.tmp`, text, { mode: 0o600 });
    renameSync(`${path}.tmp`, path);
  }

  /** Writes the configuration and maps for the current state. */
  private render(): void {
    const servers = new Map<number, RenderedServer[]>();
    for (const a of this.apps.values()) servers.set(a.backend, [...a.servers.values()]);
    this.writeAtomic(this.files.hostMap, renderMap(this.hostMap));
    this.writeAtomic(this.files.forceHttpsMap, renderMap(this.policyEntries('force')));
    this.writeAtomic(this.files.hstsMap, renderMap(this.policyEntries('hsts')));
    this.writeAtomic(this.files.cfg, renderConfig({
      host: this.o.host, port: this.o.port, holderPort: this.o.holderPort, statsPort: this.o.statsPort,
      adminSocket: this.files.admin, hostMap: this.files.hostMap, forceHttpsMap: this.files.forceHttpsMap, hstsMap: this.files.hstsMap,
      backends: this.nBackends, servers, maxConnections: this.o.maxConnections,
      ...(this.o.maxConnectionsPerAddress !== undefined ? { maxConnectionsPerAddress: this.o.maxConnectionsPerAddress } : {}),
      headerTimeoutMs: this.o.headerTimeoutMs,
      idleTimeoutMs: this.o.idleTimeoutMs, serverTimeoutMs: this.o.serverTimeoutMs, threads: this.o.threads ?? 1,
    }));
  }

  private policyEntries(kind: 'force' | 'hsts'): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    for (const [host, be] of this.hostMap) {
      const app = this.appOfBackend(be);
      const p = app ? this.edge.policies[app] : undefined;
      if (!p) continue;
      if (kind === 'force' && p.forceHttps) out.push([host, '1']);
      if (kind === 'hsts' && p.hstsMaxAge !== null) out.push([host, String(p.hstsMaxAge)]);
    }
    return out;
  }

  private appOfBackend(be: string): string | undefined {
    for (const [name, a] of this.apps) if (backendName(a.backend) === be) return name;
    return undefined;
  }

  private async launch(): Promise<void> {
    this.draining.clear(); // a new HAProxy has none of them
    this.base.clear();
    this.render();
    await this.proc.start();
    await this.ready();
  }

  /** The admin socket answers and lists every backend. */
  private async ready(): Promise<void> {
    const last = backendName(this.nBackends - 1);
    const until = Date.now() + 15_000;
    for (;;) {
      try {
        const a = await this.rt.run('show stat -1 2 -1');
        if (a.includes(`\n${last},BACKEND,`)) return;
      } catch {
        // not up yet
      }
      if (Date.now() > until) throw new Error(`haproxy did not come up (admin socket ${this.files.admin})`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private async grow(): Promise<void> {
    const old = this.nBackends;
    this.nBackends = old * 2;
    for (let i = this.nBackends - 1; i >= old; i--) this.free.push(i);
    this.o.log(`the ${old} app backends are all in use: ${this.nBackends} now, haproxy reloaded`);
    this.render();
    // Draining servers are not in the new worker; the old one finishes their connections.
    for (const d of this.draining.values()) if (d.phase === 'drain') this.o.onIdle(d.id);
    this.draining.clear();
    this.base.clear();
    await this.proc.reload();
    this.reloads++;
    await this.ready();
  }

  private hostsOf(app: string): string[] {
    const hs = this.o.domains.map((d) => `${app}.${d}`.toLowerCase());
    for (const [domain, owner] of Object.entries(this.edge.domains)) if (owner === app) hs.push(domain.toLowerCase());
    return hs;
  }

  private async setMap(host: string, be: string | null): Promise<void> {
    const cur = this.hostMap.get(host);
    if (be === null) {
      if (cur === undefined) return;
      this.hostMap.delete(host);
      await this.rt.run(`del map ${this.files.hostMap} ${host}`);
      return;
    }
    if (cur === be) return;
    this.hostMap.set(host, be);
    if (cur === undefined) await must(this.rt, `add map ${this.files.hostMap} ${host} ${be}`);
    else await must(this.rt, `set map ${this.files.hostMap} ${host} ${be}`);
  }

  async setRoute(app: string, route: AppRoute): Promise<void> {
    if (this.restarting) await this.restarting;
    if (route.kind !== 'serving') return this.deleteRoute(app);
    let a = this.apps.get(app);
    if (!a) {
      if (this.free.length === 0) await this.grow();
      const backend = this.free.pop()!;
      this.pendingFree.delete(backend);
      a = { backend, servers: new Map(), hosts: [], lastReq: -1, lastRequestAt: null, scur: 0 };
      this.apps.set(app, a);
      this.counters.set(app, this.counters.get(app) ?? new AppMetrics());
    }
    const be = backendName(a.backend);
    const want = new Map(route.upstreams.map((u) => [u.id, u]));
    for (const [id, s] of a.servers) {
      const u = want.get(id);
      if (u && u.address === s.address && u.port === s.port) continue;
      a.servers.delete(id);
      await this.drain(a.backend, s);
    }
    for (const u of route.upstreams) {
      if (a.servers.has(u.id)) continue;
      const base = serverNameOf(u.id);
      // The same instance back while it drains: ready again.
      const back = this.draining.get(`${a.backend}/${base}`);
      if (back && back.id === u.id && back.address === u.address && back.port === u.port) {
        this.draining.delete(`${a.backend}/${base}`);
        await must(this.rt, `set server ${be}/${base} state ready`);
        a.servers.set(u.id, { id: u.id, name: base, address: u.address, port: u.port });
        continue;
      }
      let name = base;
      for (let n = 2; this.draining.has(`${a.backend}/${name}`); n++) name = `${base}.${n}`;
      const addr = u.address.includes(':') ? `[${u.address}]` : u.address;
      await must(this.rt, `add server ${be}/${name} ${addr}:${u.port} ${SERVER_OPTS}`);
      await must(this.rt, `enable server ${be}/${name}`);
      a.servers.set(u.id, { id: u.id, name, address: u.address, port: u.port });
    }
    const hosts = this.hostsOf(app);
    for (const h of a.hosts) if (!hosts.includes(h)) await this.setMap(h, null);
    for (const h of hosts) await this.setMap(h, be);
    a.hosts = hosts;
    this.writeMaps();
    await this.poll();
  }

  async deleteRoute(app: string): Promise<void> {
    if (this.restarting) await this.restarting;
    const a = this.apps.get(app);
    if (!a) return;
    for (const h of a.hosts) await this.setMap(h, null);
    this.apps.delete(app);
    for (const s of a.servers.values()) await this.drain(a.backend, s);
    this.pendingFree.add(a.backend);
    this.freeIfEmpty(a.backend);
    this.writeMaps();
    await this.poll();
  }

  private writeMaps(): void {
    this.writeAtomic(this.files.hostMap, renderMap(this.hostMap));
  }

  private async drain(backend: number, s: Srv): Promise<void> {
    const key = `${backend}/${s.name}`;
    this.draining.set(key, { ...s, backend, phase: 'drain' });
    await this.rt.run(`set server ${backendName(backend)}/${s.name} state drain`);
  }

  private freeIfEmpty(backend: number): void {
    if (!this.pendingFree.has(backend)) return;
    for (const d of this.draining.values()) if (d.backend === backend) return;
    this.pendingFree.delete(backend);
    // Its figures as last scraped stay the baseline of the next app given it.
    this.free.push(backend);
  }

  /** `show stat`: sessions per instance, last request per app, drains that are over. */
  async poll(): Promise<void> {
    if (this.closed) return;
    const rows = parseShowStat(await this.rt.run('show stat -1 6 -1'));
    const byName = new Map<string, number>();
    const backendReq = new Map<string, number>();
    for (const r of rows) {
      if (r.svname === 'BACKEND') backendReq.set(r.pxname, r.reqTot);
      else byName.set(`${r.pxname}/${r.svname}`, r.scur);
    }
    const busy: Record<string, number> = {};
    const now = this.o.now();
    for (const a of this.apps.values()) {
      const be = backendName(a.backend);
      let scur = 0;
      for (const s of a.servers.values()) {
        const n = byName.get(`${be}/${s.name}`) ?? 0;
        if (n > 0) busy[s.id] = (busy[s.id] ?? 0) + n;
        scur += n;
      }
      a.scur = scur;
      const req = backendReq.get(be) ?? 0;
      if (a.lastReq >= 0 && req !== a.lastReq) a.lastRequestAt = now;
      a.lastReq = req;
    }
    for (const [key, d] of this.draining) {
      const be = backendName(d.backend);
      const n = byName.get(`${be}/${d.name}`);
      if (n === undefined) {
        this.draining.delete(key); // gone (deleted, or HAProxy restarted)
        if (d.phase === 'drain') this.o.onIdle(d.id);
        this.freeIfEmpty(d.backend);
        continue;
      }
      if (n > 0) {
        busy[d.id] = (busy[d.id] ?? 0) + n;
        continue;
      }
      if (d.phase === 'drain') {
        d.phase = 'maint';
        this.o.onIdle(d.id);
        await this.rt.run(`set server ${be}/${d.name} state maint`);
      }
      // Refused while connections (idle ones in the pool too) remain: asked again next poll.
      const ans = await this.rt.run(`del server ${be}/${d.name}`);
      if (ans.includes('Server deleted')) {
        this.draining.delete(key);
        this.freeIfEmpty(d.backend);
      }
    }
    this.busyNow = busy;
  }

  busy(): Record<string, number> {
    return this.busyNow;
  }

  appStats(app: string): { inflight: number; lastRequestAt: number | null } | undefined {
    const a = this.apps.get(app);
    return a ? { inflight: a.scur, lastRequestAt: a.lastRequestAt } : undefined;
  }

  hasApp(app: string): boolean {
    return this.apps.has(app);
  }

  /** The exporter's per-backend figures since the last scrape, added to each app's counters. */
  async scrape(): Promise<void> {
    if (this.closed) return;
    const text = await new Promise<string>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: this.o.statsPort, path: '/metrics?scope=backend', timeout: 5000 }, (res) => {
        let b = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (b += c));
        res.on('end', () => resolve(b));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.on('timeout', () => req.destroy(new Error('timeout')));
    });
    const figures = parsePromBackends(text);
    for (const [app, a] of this.apps) {
      const be = backendName(a.backend);
      const f = figures.get(be);
      if (!f) continue;
      // No baseline: a backend HAProxy has had since its start (or reload), counted from 0.
      const prev = this.base.get(be) ?? { hrsp: [0, 0, 0, 0, 0], retries: 0, connErrors: 0, respErrors: 0 };
      this.base.set(be, { hrsp: [...f.hrsp], retries: f.retries, connErrors: f.connErrors, respErrors: f.respErrors });
      const m = this.counters.get(app)!;
      // A reload starts HAProxy's counters again: a figure below the last is counted from 0.
      const d = (now: number, was: number) => (now >= was ? now - was : now);
      let n = 0;
      for (let c = 0; c < 5; c++) {
        const k = d(f.hrsp[c], prev.hrsp[c]);
        // The holder's 425 hand-backs are HAProxy's retries, not answers to the client.
        m.statusClasses[c] += k;
        n += k;
      }
      // HAProxy 2.6 exports no latency histogram: each scrape's requests are counted in the
      // bucket of its average total time (of the last 1024 requests).
      if (n > 0) {
        const h = m.latency;
        let i = 0;
        while (i < h.bounds.length && f.ttimeAvg > h.bounds[i]) i++;
        h.counts[i] += n;
        h.count += n;
        h.sum += n * f.ttimeAvg;
      }
      m.retries += d(f.retries, prev.retries);
      m.upstreamErrors += d(f.connErrors, prev.connErrors) + d(f.respErrors, prev.respErrors);
    }
  }

  /** HAProxy's counters of the app (requests, latency, retries, errors), if it has a backend. */
  counterOf(app: string): AppMetrics | undefined {
    return this.counters.get(app);
  }

  forget(app: string): void {
    if (!this.apps.has(app)) this.counters.delete(app);
  }

  /** Replaces the edge state (custom domains into the host map, policies into their maps). */
  async setEdge(edge: EdgeState): Promise<void> {
    this.edge = edge;
    for (const [app, a] of this.apps) {
      const hosts = this.hostsOf(app);
      for (const h of a.hosts) if (!hosts.includes(h)) await this.setMap(h, null);
      for (const h of hosts) await this.setMap(h, backendName(a.backend));
      a.hosts = hosts;
    }
    this.writeMaps();
    await this.syncPolicyMap(this.files.forceHttpsMap, this.policyEntries('force'));
    await this.syncPolicyMap(this.files.hstsMap, this.policyEntries('hsts'));
  }

  private async syncPolicyMap(file: string, entries: Array<[string, string]>): Promise<void> {
    await this.rt.run(`clear map ${file}`);
    for (const [k, v] of entries) await must(this.rt, `add map ${file} ${k} ${v}`);
    this.writeAtomic(file, renderMap(entries));
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.metricsTimer) clearInterval(this.metricsTimer);
    await this.proc.stop();
  }
}

export type { AppMetricsSnapshot };
