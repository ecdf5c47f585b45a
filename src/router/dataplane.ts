// The data plane as a process of its own (`summon up` starts it; dataplane-main.ts is its
// entry): the router's listening socket, its route table and its counters outlive the control
// plane, so stopping, restarting or upgrading `summon up` refuses no connection and fails no
// request to an app with running instances. The control plane drives it over a unix socket
// in DATA (newline-delimited JSON, protocol below) and adopts it on its next start, as it
// adopts instances. With `dataPlane: 'haproxy'` the public port is HAProxy's, a child of
// this process programmed at run time (haproxy/plane.ts), and the Node router listens on
// loopback as every app backend's `backup` server: the holder (requests for an app with no
// instance wait there, then are handed back to HAProxy with a 425 it retries on the new server).
//
// While no control plane is connected the data plane goes on with the table it has: requests
// to apps with instances are proxied; a request to an app at zero is held (bounded by
// --hold-max and --hold-timeout, then 503 with Retry-After) and its wake-up is asked of the
// next control plane as soon as one connects.
//
// Protocol (one JSON object per line):
//   control plane → data plane
//     {t:'hello'}                                    answered with {t:'hello', …} below
//     {t:'route', seq, app, route} / {t:'delete', seq, app} / {t:'sync', seq, apps}
//     {t:'edge', seq, edge}                          the whole edge state (edge-types.ts)
//                                                    applied in order, each answered {t:'ack', seq, busy}
//     {t:'stop'}                                     close (held requests 503) and exit
//   data plane → control plane
//     {t:'hello', protocol, version, pid, port, httpsPort, config, apps, waking, dataPlane, haproxy?}
//     {t:'ack', seq, busy}                           busy: requests in flight per instance id
//     {t:'idle', id}                                 a drained instance has nothing in flight
//     {t:'wake', app} / {t:'event', e}
//     {t:'stats', apps, busy, metrics?}              every STATS_MS: apps whose stats moved;
//                                                    with the counters of the apps that moved
import { readFileSync } from 'node:fs';
import { chmod, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { resolveClientLimits } from './client-limits.js';
import { HaproxyPlane } from './haproxy/plane.js';
import { probeHaproxy } from './haproxy/process.js';
import type { AppMetricsSnapshot, RouterMetrics } from './metrics.js';
import { Router, type AppRoute, type ClientLimitOptions, type RouterEvent } from './router.js';
import type { EdgeState } from './edge-types.js';

export const DATA_PLANE_PROTOCOL = 1;
const STATS_MS = 200;
/** Counters go with every stats message (only the apps whose counters moved). */
const METRICS_EVERY = 1;
/** Events kept while no control plane is connected (the rest are counted, not kept). */
const MAX_PENDING_EVENTS = 1000;

export interface DataPlaneConfig {
  port: number;
  host?: string;
  domains: string[];
  hold?: { maxRequests?: number; maxWaitMs?: number };
  client?: ClientLimitOptions;
  /** HTTPS on this port too (tls-listener.ts; 0: any free port); absent or null: none. */
  httpsPort?: number | null;
  /** The control socket's path. */
  socket: string;
  /** Summon's version that started it (said in hello; not compared). */
  version: string;
  /** Which data plane carries requests: the Node router itself (default) or HAProxy with the
   *  Node router as its holder. Resolved by the control plane (`--data-plane auto`). */
  dataPlane?: 'node' | 'haproxy';
  /** HAProxy's app backends made at start (default 32; doubled with a reload when used up). */
  haproxySpares?: number;
}

/** Bodies up to this size are handed back to HAProxy (it replays them from its 16 KiB buffer);
 *  bigger or chunked ones are proxied by the holder itself. */
export const HAND_BACK_MAX_BODY = 8192;

/** DATA/dataplane.pid beside DATA/dataplane.sock: the running data plane process's pid. */
export function pidFileOf(socket: string): string {
  return socket.replace(/\.sock$/, '') + '.pid';
}

/** What must be the same for a control plane to adopt a running data plane (the ports aside:
 *  whether HTTPS is on is here, its port is compared like the HTTP port; so is which data plane). */
export function configKey(c: Pick<DataPlaneConfig, 'host' | 'domains' | 'hold' | 'client' | 'httpsPort' | 'dataPlane'>): string {
  const base = { host: c.host ?? null, domains: c.domains, hold: c.hold ?? null, client: c.client ?? null, https: c.httpsPort != null };
  // A Node data plane's key is what it was before there was a choice, so one left running by an
  // older Summon is still adopted.
  return JSON.stringify((c.dataPlane ?? 'node') === 'node' ? base : { ...base, dataPlane: c.dataPlane });
}

/** A free TCP port on loopback (HAProxy cannot bind port 0 and say which it got). */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

function openFileLimit(): number {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : 1024;
  } catch {
    return 1024;
  }
}

export interface RunningDataPlane {
  port: number;
  httpsPort: number | null;
  kind: 'node' | 'haproxy';
  /** The HAProxy it runs (haproxy kind). */
  haproxy?: HaproxyPlane;
  /** Resolves when it has stopped (told to, or close() called). */
  closed: Promise<void>;
  close(): Promise<void>;
}

type Msg = { t: string; [k: string]: unknown };

export async function runDataPlane(cfg: DataPlaneConfig, log: (msg: string) => void = () => {}): Promise<RunningDataPlane> {
  let conn: Socket | null = null;
  const pendingWakes = new Set<string>();
  const pendingEvents: RouterEvent[] = [];
  let droppedEvents = 0;
  const send = (m: Msg): boolean => {
    if (!conn || conn.destroyed || conn.writableEnded) return false;
    conn.write(`${JSON.stringify(m)}\n`);
    return true;
  };
  const kind = cfg.dataPlane ?? 'node';
  let plane: HaproxyPlane | null = null;
  const router = new Router({
    domains: cfg.domains,
    // Behind HAProxy: plain HTTP on loopback for HAProxy only; HTTPS (terminated by the Node
    // router for now) on the public address.
    ...(kind === 'haproxy'
      ? { port: 0, host: '127.0.0.1', httpsHost: cfg.host ?? '0.0.0.0', behindHaproxy: { handBackMaxBody: HAND_BACK_MAX_BODY } }
      : { port: cfg.port, ...(cfg.host ? { host: cfg.host } : {}) }),
    ...(cfg.hold ? { hold: cfg.hold } : {}),
    ...(cfg.client ? { client: cfg.client } : {}),
    ...(cfg.httpsPort != null ? { httpsPort: cfg.httpsPort } : {}),
    wake: (app) => {
      if (!send({ t: 'wake', app })) pendingWakes.add(app);
    },
    onEvent: (e) => {
      if (send({ t: 'event', e })) return;
      if (pendingEvents.length < MAX_PENDING_EVENTS) pendingEvents.push(e);
      else droppedEvents++;
    },
    // Behind HAProxy an instance is idle once neither has a request on it.
    onUpstreamIdle: (id) => {
      if (!plane || !(plane.busy()[id] > 0)) send({ t: 'idle', id });
    },
  });
  const listened = await router.listen();
  const httpsPort = listened.httpsPort;
  let port = listened.port;
  let haproxyVersion: string | undefined;
  if (kind === 'haproxy') {
    const probe = probeHaproxy();
    if (!probe.ok) {
      await router.close(0);
      throw new Error(`the HAProxy data plane cannot run: ${probe.reason}`);
    }
    haproxyVersion = probe.version;
    const limits = resolveClientLimits(cfg.client);
    const host = cfg.host ?? '0.0.0.0';
    port = cfg.port === 0 ? await freePort(host) : cfg.port;
    try {
      plane = await HaproxyPlane.start({
        dir: join(dirname(cfg.socket), 'haproxy'), host, port, holderPort: listened.port, statsPort: await freePort('127.0.0.1'),
        domains: cfg.domains, maxConnections: Math.max(100, Math.min(limits.maxConnections, Math.floor((openFileLimit() - 200) / 2))),
        maxConnectionsPerAddress: limits.maxConnectionsPerAddress,
        headerTimeoutMs: limits.headerTimeoutMs, idleTimeoutMs: limits.idleTimeoutMs,
        // Held requests wait in the holder: HAProxy waits for it as long as a hold may last.
        serverTimeoutMs: Math.max(60_000, (cfg.hold?.maxWaitMs ?? 30_000) + 5000),
        ...(cfg.haproxySpares ? { spares: cfg.haproxySpares } : {}),
        now: Date.now, log,
        onIdle: (id) => {
          if (router.inflight(id) === 0) send({ t: 'idle', id });
        },
      });
    } catch (e) {
      await router.close(0);
      throw e;
    }
  }
  const key = configKey(cfg);

  // Behind HAProxy, requests in flight and the last request are HAProxy's and the holder's
  // together; the counters of an app with a backend are HAProxy's (requests, latency,
  // retries, errors) with the holder's (held, wakes, refusals).
  const appStats = (name: string) => {
    const s = router.appStats(name);
    const h = plane?.appStats(name);
    if (!h) return s;
    const last = h.lastRequestAt === null ? s.lastRequestAt : s.lastRequestAt === null ? h.lastRequestAt : Math.max(h.lastRequestAt, s.lastRequestAt);
    return { inflight: s.inflight + h.inflight, held: s.held, lastRequestAt: last };
  };
  const busyNow = (): Record<string, number> => {
    const b = router.busyUpstreams();
    if (!plane) return b;
    for (const [id, n] of Object.entries(plane.busy())) b[id] = (b[id] ?? 0) + n;
    return b;
  };
  const merged = (name: string, holder: AppMetricsSnapshot): AppMetricsSnapshot => {
    const c = plane?.counterOf(name);
    if (!c || !plane?.hasApp(name)) return holder;
    const h = c.snapshot();
    return { ...holder, requests: h.requests, latency: h.latency, retries: h.retries, upstreamErrors: h.upstreamErrors + holder.upstreamErrors };
  };
  const haproxyMarks = new Map<string, number>();
  const metricsChanged = (marks: Map<string, number>): RouterMetrics => {
    if (!plane) return router.metricsChanged(marks);
    const all = router.metrics();
    const apps: RouterMetrics['apps'] = {};
    for (const [name, snap] of Object.entries(all.apps)) {
      const m = merged(name, snap);
      const mark = m.latency.count + m.retries + m.upstreamErrors + m.held + m.rejected + m.holdTimeouts + m.timeouts + m.wakes;
      if (marks.get(name) === mark && haproxyMarks.get(name) === mark) continue;
      marks.set(name, mark);
      haproxyMarks.set(name, mark);
      apps[name] = m;
    }
    return { apps, unrouted: all.unrouted };
  };

  const lastRequest = new Map<string, number | null>();
  const active = new Set<string>();
  const marks = new Map<string, number>();
  let ticks = 0;
  const stats = setInterval(() => {
    if (!conn) return;
    const apps: Record<string, { inflight: number; held: number; lastRequestAt: number | null }> = {};
    for (const name of router.routedApps()) {
      const s = appStats(name);
      const busy = s.inflight > 0 || s.held > 0;
      if (busy || active.has(name) || s.lastRequestAt !== (lastRequest.get(name) ?? null)) apps[name] = s;
      lastRequest.set(name, s.lastRequestAt);
      if (busy) active.add(name);
      else active.delete(name);
    }
    const m: Msg = { t: 'stats', apps, busy: busyNow() };
    if (++ticks % METRICS_EVERY === 0) m.metrics = metricsChanged(marks);
    send(m);
  }, STATS_MS);

  let applying: Promise<void> = Promise.resolve();
  const lastRoutes = new Map<string, AppRoute>();
  const onMessage = (c: Socket, m: Msg): void => {
    switch (m.t) {
      case 'hello': {
        // The newest control plane is the one (an older connection left over is dropped), and
        // nothing is sent on a connection before its hello is answered.
        if (conn && conn !== c) conn.destroy();
        conn = c;
        const waking = new Set(pendingWakes);
        for (const name of router.routedApps()) if (router.appStats(name).held > 0) waking.add(name);
        const which = kind === 'haproxy' ? { dataPlane: 'haproxy', haproxy: haproxyVersion } : { dataPlane: 'node' };
        pendingWakes.clear();
        marks.clear(); // the new control plane gets every app's counters once
        lastRequest.clear();
        c.write(`${JSON.stringify({ t: 'hello', protocol: DATA_PLANE_PROTOCOL, version: cfg.version, pid: process.pid, port, httpsPort, config: key, apps: router.routedApps(), waking: [...waking], ...which })}\n`);
        for (const e of pendingEvents.splice(0)) send({ t: 'event', e });
        if (droppedEvents > 0) log(`${droppedEvents} router events dropped while no control plane was connected`);
        droppedEvents = 0;
        return;
      }
      case 'route':
      case 'delete':
      case 'edge':
      case 'sync': {
        // HAProxy is changed first (a held request is handed back only once its server is
        // there), and messages apply one after another in the order they came.
        applying = applying.then(async () => {
          let error: string | undefined;
          try {
            if (m.t === 'route') {
              const app = String(m.app);
              const route = m.route as AppRoute;
              if (plane) {
                // The holder hands a request back only while HAProxy has a server for it: it
                // learns of removed upstreams before HAProxy drains them, of added ones after
                // HAProxy has them (else a request HAProxy sends it meanwhile bounces on 425s).
                const prev = lastRoutes.get(app);
                if (route.kind !== 'serving') router.setRoute(app, route);
                else if (prev?.kind === 'serving') {
                  const kept = prev.upstreams.filter((u) => route.upstreams.some((n) => n.id === u.id && n.address === u.address && n.port === u.port));
                  if (kept.length < prev.upstreams.length) router.setRoute(app, { kind: 'serving', upstreams: kept });
                }
                await plane.setRoute(app, route);
              }
              router.setRoute(app, route);
              lastRoutes.set(app, route);
            } else if (m.t === 'edge') {
              router.setEdge(m.edge as EdgeState);
              if (plane) await plane.setEdge(m.edge as EdgeState);
            } else if (m.t === 'delete') {
              router.deleteRoute(String(m.app));
              lastRoutes.delete(String(m.app));
              if (plane) await plane.deleteRoute(String(m.app));
              plane?.forget(String(m.app));
            } else {
              const keep = new Set(m.apps as string[]);
              for (const name of router.routedApps()) {
                if (keep.has(name)) continue;
                router.deleteRoute(name);
                lastRoutes.delete(name);
                if (plane) await plane.deleteRoute(name);
                plane?.forget(name);
              }
            }
          } catch (e) {
            error = (e as Error).message;
          }
          send({ t: 'ack', seq: m.seq, busy: busyNow(), ...(error ? { error } : {}) });
        });
        return;
      }
      case 'stop':
        if (conn !== c && conn !== null) return; // only the control plane in charge stops it
        log('told to stop by the control plane');
        void close();
        return;
      default:
        log(`unknown control message ${JSON.stringify(m.t)}`);
    }
  };

  await rm(cfg.socket, { force: true });
  const control: Server = createServer((c) => {
    c.setEncoding('utf8');
    let buf = '';
    c.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!line) continue;
        let m: Msg;
        try {
          m = JSON.parse(line) as Msg;
        } catch {
          log('a control line that is not JSON: connection dropped');
          c.destroy();
          return;
        }
        onMessage(c, m);
      }
    });
    c.on('error', () => undefined);
    // The control plane let go (its stop): from now on, wake-ups and events wait for the next.
    c.on('end', () => {
      if (conn !== c) return;
      conn = null;
      log('control plane disconnected: serving with the last route table');
    });
    c.on('close', () => {
      if (conn === c) {
        conn = null;
        log('control plane connection lost: serving with the last route table');
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    control.once('error', reject);
    control.listen(cfg.socket, () => resolve());
  });
  await chmod(cfg.socket, 0o600);
  log(plane
    ? `data plane up: HAProxy ${haproxyVersion} (pid ${plane.pid}) on port ${port}, the Node holder on 127.0.0.1:${listened.port}${httpsPort !== null ? `, HTTPS (Node) on ${httpsPort}` : ''}, control socket ${cfg.socket}`
    : `data plane up: router on port ${port}${httpsPort !== null ? `, HTTPS on ${httpsPort}` : ''}, control socket ${cfg.socket}`);

  let closing: Promise<void> | null = null;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));
  const close = (): Promise<void> => {
    closing ??= (async () => {
      clearInterval(stats);
      // The router's port is free before the control plane hears this one is gone (it may
      // start another on the same port at once).
      await Promise.all([router.close(1000), plane?.close()]);
      await new Promise<void>((r) => {
        control.close(() => r());
        conn?.end();
      });
      await rm(cfg.socket, { force: true });
      resolveClosed();
    })();
    return closing;
  };
  return { port, httpsPort, closed, close, kind, ...(plane ? { haproxy: plane } : {}) };
}
