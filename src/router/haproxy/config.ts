// HAProxy's configuration as Summon renders it (DATA/haproxy/haproxy.cfg): pure functions of
// the data plane's state, so the renderer is unit-tested without HAProxy (config.test.ts) and
// a reload re-renders every current server and map entry.
//
// Shape: one HTTP frontend (and an HTTPS one when a port is given) routing by Host through a
// map file (host → backend, default be_unknown); a fixed set of app backends `app_N`, each
// with the Node holder as its `backup` server (used only while no instance is in it) and its
// instances as servers (added at run time, written here only for a reload); be_unknown whose
// one server is the Node router (404s, 400s, apps with no release); a loopback frontend for the
// Prometheus exporter. HAProxy runs no health checks: Summon's are the only ones.

export interface RenderedServer {
  /** HAProxy server name (safe characters only). */
  name: string;
  address: string;
  port: number;
}

export interface RenderInput {
  /** Where the listeners bind. */
  host: string;
  port: number;
  /** The HTTPS listener's port and the crt-list it serves, when HTTPS is on. */
  https?: { port: number; crtList: string; defaultCert: string };
  /** The Node holder/router on loopback. */
  holderPort: number;
  /** Prometheus exporter on loopback. */
  statsPort: number;
  /** Admin socket (stats socket, level admin, mode 0600). */
  adminSocket: string;
  /** The host map's file. */
  hostMap: string;
  /** Per-app policy map files (force_https, hsts). */
  forceHttpsMap: string;
  hstsMap: string;
  /** Number of app backends (app_0 … app_{n-1}). */
  backends: number;
  /** Servers per backend index (current ones; only used when rendering for a (re)load). */
  servers: Map<number, RenderedServer[]>;
  /** Client limits. */
  maxConnections: number;
  /** Connections from one address (an IPv6 client's /64) past which a new one is closed. */
  maxConnectionsPerAddress?: number;
  headerTimeoutMs: number;
  idleTimeoutMs: number;
  /** Upstream response-header timeout (504 past it). */
  serverTimeoutMs: number;
  /** HAProxy worker threads (1 measured best on this 2-core machine). */
  threads: number;
}

/** Options every instance server gets: connection reuse for a dynamic server needs the pool
 *  settings (without them 2.6.12 opens a new upstream connection per request). Never
 *  `enabled` (haproxy#2497: such a server never joins load balancing); `enable server` after. */
export const SERVER_OPTS = 'pool-max-conn -1 pool-purge-delay 5s';

export const HOLDER_NAME = 'summon_holder';

export function backendName(i: number): string {
  return `app_${i}`;
}

/** A string HAProxy takes as a server name: [A-Za-z0-9_.:-], at most 64 characters. */
export function serverNameOf(instanceId: string): string {
  const s = instanceId.replace(/[^A-Za-z0-9_.:-]/g, '_');
  return s.length > 64 ? s.slice(0, 64) : s || '_';
}

function sec(ms: number): string {
  return `${Math.max(1, Math.round(ms))}ms`;
}

export function renderConfig(i: RenderInput): string {
  const lines: string[] = [];
  const push = (...l: string[]) => lines.push(...l);
  push(
    '# Rendered by Summon (src/router/haproxy/config.ts); changed at run time over the admin socket.',
    'global',
    `  stats socket ${i.adminSocket} mode 600 level admin expose-fd listeners`,
    '  stats timeout 2m',
    `  maxconn ${i.maxConnections}`,
    `  nbthread ${i.threads}`,
    '  tune.bufsize 16384',
    '  hard-stop-after 30s',
    '',
    'defaults',
    '  mode http',
    '  option http-keep-alive',
    '  option redispatch 1',
    '  retries 3',
    // conn-failure: nothing was sent; empty-response: a reused connection closed under a
    // request; 425: the holder hands a request back once an instance is in the backend.
    '  retry-on conn-failure empty-response 425',
    '  timeout connect 5s',
    `  timeout client ${sec(i.idleTimeoutMs)}`,
    `  timeout http-request ${sec(i.headerTimeoutMs)}`,
    `  timeout http-keep-alive ${sec(i.idleTimeoutMs)}`,
    `  timeout server ${sec(i.serverTimeoutMs)}`,
    '  timeout tunnel 1h',
    '  timeout queue 30s',
    '  http-reuse safe',
    '',
    'frontend fe_stats',
    `  bind 127.0.0.1:${i.statsPort}`,
    '  http-request use-service prometheus-exporter if { path /metrics }',
    '  http-request return status 404',
    '',
  );
  const front = (name: string, bind: string, proto: 'http' | 'https') => {
    push(
      `frontend ${name}`,
      `  bind ${bind}`,
      `  maxconn ${i.maxConnections}`,
    );
    if (i.maxConnectionsPerAddress !== undefined) {
      // HAProxy cannot answer a connection that has sent nothing: past the cap it is closed.
      push(
        '  stick-table type ipv6 size 1m expire 10m store conn_cur',
        '  tcp-request connection track-sc0 src,ipmask(32,64)',
        `  tcp-request connection reject if { sc0_conn_cur gt ${i.maxConnectionsPerAddress} }`,
      );
    }
    push(
      // The forwarding headers are Summon's own: a client's values are replaced, never appended to.
      '  http-request del-header X-Real-IP',
      '  http-request del-header Forwarded',
      '  http-request del-header X-Forwarded-Host',
      '  http-request set-header X-Forwarded-For %[src]',
      `  http-request set-header X-Forwarded-Proto ${proto}`,
      '  http-request set-header X-Real-IP %[src]',
      '  http-request set-header X-Forwarded-Host %[req.hdr(host)] if { req.hdr_cnt(host) eq 1 }',
      `  http-request set-header Forwarded "for=%[src];host=\\"%[req.hdr(host)]\\";proto=${proto}" if { req.hdr_cnt(host) eq 1 } { src 0.0.0.0/0 }`,
      `  http-request set-header Forwarded "for=\\"[%[src]]\\";host=\\"%[req.hdr(host)]\\";proto=${proto}" if { req.hdr_cnt(host) eq 1 } !{ src 0.0.0.0/0 }`,
      '  http-request set-var(txn.host) req.hdr(host),field(1,:),lower',
      // A wildcard domain (*.example.com) is a map key like any other: looked up after the exact
      // host, with its first label replaced by * (one label, as the Node router matches).
      '  http-request set-var(txn.wild) var(txn.host),regsub(^[^.]*[.],*.)',
      '  acl acme path_beg /.well-known/acme-challenge/',
    );
    if (proto === 'http') {
      push(`  http-request redirect scheme https code 308 if !acme { var(txn.host),map(${i.forceHttpsMap}) -m found } || !acme { var(txn.wild),map(${i.forceHttpsMap}) -m found }`);
    } else {
      push(
        `  http-response set-header Strict-Transport-Security "max-age=%[var(txn.host),map(${i.hstsMap})]" if { var(txn.host),map(${i.hstsMap}) -m found }`,
        `  http-response set-header Strict-Transport-Security "max-age=%[var(txn.wild),map(${i.hstsMap})]" if !{ var(txn.host),map(${i.hstsMap}) -m found } { var(txn.wild),map(${i.hstsMap}) -m found }`,
      );
    }
    push(
      // ACME HTTP-01 answers come from the Node router whatever the host.
      '  use_backend be_unknown if acme',
      `  use_backend %[var(txn.host),map(${i.hostMap})] if { var(txn.host),map(${i.hostMap}) -m found }`,
      `  use_backend %[var(txn.wild),map(${i.hostMap},be_unknown)]`,
      '  default_backend be_unknown',
      '',
    );
  };
  front('fe_http', `${i.host}:${i.port}`, 'http');
  if (i.https) front('fe_https', `${i.host}:${i.https.port} ssl crt-list ${i.https.crtList} crt ${i.https.defaultCert} alpn http/1.1`, 'https');
  push('backend be_unknown', `  server node 127.0.0.1:${i.holderPort} ${SERVER_OPTS}`, '');
  for (let b = 0; b < i.backends; b++) {
    push(`backend ${backendName(b)}`, '  balance leastconn', `  server ${HOLDER_NAME} 127.0.0.1:${i.holderPort} backup ${SERVER_OPTS}`);
    for (const s of i.servers.get(b) ?? []) push(`  server ${s.name} ${s.address}:${s.port} ${SERVER_OPTS}`);
    push('');
  }
  return lines.join('\n');
}

/** A map file's text: one `key value` per line. */
export function renderMap(entries: Iterable<[string, string]>): string {
  let out = '';
  for (const [k, v] of entries) out += `${k} ${v}\n`;
  return out;
}
