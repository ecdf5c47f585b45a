// The data plane as a process of its own (`summon up` starts it; dataplane-main.ts is its
// entry): the router's listening socket, its route table and its counters outlive the control
// plane, so stopping, restarting or upgrading `summon up` refuses no connection and fails no
// request to an app with running instances. The control plane drives it over a unix socket
// in DATA (newline-delimited JSON, protocol below) and adopts it on its next start, as it
// adopts instances; a later HAProxy data plane takes the same place in this lifecycle.
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
//     {t:'hello', protocol, version, pid, port, httpsPort, config, apps, waking}
//     {t:'ack', seq, busy}                           busy: requests in flight per instance id
//     {t:'idle', id}                                 a drained instance has nothing in flight
//     {t:'wake', app} / {t:'event', e}
//     {t:'stats', apps, busy, metrics?}              every STATS_MS: apps whose stats moved;
//                                                    with the counters of the apps that moved
import { chmod, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
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
}

/** DATA/dataplane.pid beside DATA/dataplane.sock: the running data plane process's pid. */
export function pidFileOf(socket: string): string {
  return socket.replace(/\.sock$/, '') + '.pid';
}

/** What must be the same for a control plane to adopt a running data plane (the ports aside:
 *  whether HTTPS is on is here, its port is compared like the HTTP port). */
export function configKey(c: Pick<DataPlaneConfig, 'host' | 'domains' | 'hold' | 'client' | 'httpsPort'>): string {
  return JSON.stringify({ host: c.host ?? null, domains: c.domains, hold: c.hold ?? null, client: c.client ?? null, https: c.httpsPort != null });
}

export interface RunningDataPlane {
  port: number;
  httpsPort: number | null;
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
  const router = new Router({
    port: cfg.port, domains: cfg.domains,
    ...(cfg.host ? { host: cfg.host } : {}),
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
    onUpstreamIdle: (id) => void send({ t: 'idle', id }),
  });
  const { port, httpsPort } = await router.listen();
  const key = configKey(cfg);

  const lastRequest = new Map<string, number | null>();
  const active = new Set<string>();
  const marks = new Map<string, number>();
  let ticks = 0;
  const stats = setInterval(() => {
    if (!conn) return;
    const apps: Record<string, { inflight: number; held: number; lastRequestAt: number | null }> = {};
    for (const name of router.routedApps()) {
      const s = router.appStats(name);
      const busy = s.inflight > 0 || s.held > 0;
      if (busy || active.has(name) || s.lastRequestAt !== (lastRequest.get(name) ?? null)) apps[name] = s;
      lastRequest.set(name, s.lastRequestAt);
      if (busy) active.add(name);
      else active.delete(name);
    }
    const m: Msg = { t: 'stats', apps, busy: router.busyUpstreams() };
    if (++ticks % METRICS_EVERY === 0) m.metrics = router.metricsChanged(marks);
    send(m);
  }, STATS_MS);

  const onMessage = (c: Socket, m: Msg): void => {
    switch (m.t) {
      case 'hello': {
        // The newest control plane is the one (an older connection left over is dropped), and
        // nothing is sent on a connection before its hello is answered.
        if (conn && conn !== c) conn.destroy();
        conn = c;
        const waking = new Set(pendingWakes);
        for (const name of router.routedApps()) if (router.appStats(name).held > 0) waking.add(name);
        pendingWakes.clear();
        marks.clear(); // the new control plane gets every app's counters once
        lastRequest.clear();
        c.write(`${JSON.stringify({ t: 'hello', protocol: DATA_PLANE_PROTOCOL, version: cfg.version, pid: process.pid, port, httpsPort, config: key, apps: router.routedApps(), waking: [...waking] })}\n`);
        for (const e of pendingEvents.splice(0)) send({ t: 'event', e });
        if (droppedEvents > 0) log(`${droppedEvents} router events dropped while no control plane was connected`);
        droppedEvents = 0;
        return;
      }
      case 'route':
      case 'delete':
      case 'edge':
      case 'sync': {
        let error: string | undefined;
        try {
          if (m.t === 'route') router.setRoute(String(m.app), m.route as AppRoute);
          else if (m.t === 'edge') router.setEdge(m.edge as EdgeState);
          else if (m.t === 'delete') router.deleteRoute(String(m.app));
          else {
            const keep = new Set(m.apps as string[]);
            for (const name of router.routedApps()) if (!keep.has(name)) router.deleteRoute(name);
          }
        } catch (e) {
          error = (e as Error).message;
        }
        send({ t: 'ack', seq: m.seq, busy: router.busyUpstreams(), ...(error ? { error } : {}) });
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
  log(`data plane up: router on port ${port}${httpsPort !== null ? `, HTTPS on ${httpsPort}` : ''}, control socket ${cfg.socket}`);

  let closing: Promise<void> | null = null;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));
  const close = (): Promise<void> => {
    closing ??= (async () => {
      clearInterval(stats);
      // The router's port is free before the control plane hears this one is gone (it may
      // start another on the same port at once).
      await router.close(1000);
      await new Promise<void>((r) => {
        control.close(() => r());
        conn?.end();
      });
      await rm(cfg.socket, { force: true });
      resolveClosed();
    })();
    return closing;
  };
  return { port, httpsPort, closed, close };
}
