// HAProxy's runtime API over its admin socket (DATA/haproxy/admin.sock, mode 0600): one
// connection per batch of commands (non-interactive mode: HAProxy answers and closes),
// batches sent one after another so changes apply in the order they were asked for.
import { connect } from 'node:net';

export class RuntimeError extends Error {}

export interface RuntimeApi {
  /** Runs one command; resolves with HAProxy's answer (text). */
  run(cmd: string): Promise<string>;
}

/** Answers that mean a command failed (HAProxy answers text, not codes). */
const FAILURE = /^(Unknown command|No such|Unable|'.*' is not|Require|Permission denied|Server is still|Missing|Invalid|Unknown|[Ee]rror|Can't|Cannot|Only)/m;

export function isFailure(answer: string): boolean {
  return FAILURE.test(answer.trim());
}

export class SocketRuntime implements RuntimeApi {
  private chain: Promise<unknown> = Promise.resolve();
  constructor(readonly path: string, private readonly timeoutMs = 10_000) {}

  run(cmd: string): Promise<string> {
    if (/[\n;]/.test(cmd)) return Promise.reject(new RuntimeError(`runtime command must be one line without ';': ${JSON.stringify(cmd)}`));
    const p = this.chain.then(() => this.once(cmd));
    this.chain = p.catch(() => undefined);
    return p;
  }

  private once(cmd: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const s = connect(this.path);
      let out = '';
      const timer = setTimeout(() => {
        s.destroy();
        reject(new RuntimeError(`haproxy did not answer ${JSON.stringify(cmd)} within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      s.setEncoding('utf8');
      s.on('connect', () => s.write(`${cmd}\n`));
      s.on('data', (d: string) => (out += d));
      s.on('error', (e) => {
        clearTimeout(timer);
        reject(new RuntimeError(`haproxy admin socket ${this.path}: ${e.message}`));
      });
      s.on('close', () => {
        clearTimeout(timer);
        resolve(out);
      });
    });
  }
}

/** Runs `cmd` and throws when HAProxy's answer says it failed. */
export async function must(api: RuntimeApi, cmd: string): Promise<string> {
  const a = await api.run(cmd);
  if (isFailure(a)) throw new RuntimeError(`haproxy refused ${JSON.stringify(cmd)}: ${a.trim()}`);
  return a;
}

export interface StatRow {
  pxname: string;
  svname: string;
  /** Current sessions. */
  scur: number;
  /** Total sessions. */
  stot: number;
  status: string;
  /** Seconds since the last session was assigned (-1 never). */
  lastsess: number;
  hrsp: [number, number, number, number, number];
  /** Requests (backend) / sessions. */
  reqTot: number;
  /** Average total time of the last 1024 requests, ms. */
  ttime: number;
  /** Retries and redispatches. */
  wretr: number;
  wredis: number;
  /** Failed connections and responses. */
  econ: number;
  eresp: number;
}

/** `show stat` CSV → rows (the header line names the columns). */
export function parseShowStat(csv: string): StatRow[] {
  const lines = csv.split('\n').filter((l) => l.length > 0);
  if (lines.length === 0 || !lines[0].startsWith('# ')) return [];
  const cols = lines[0].slice(2).split(',');
  const at = (name: string) => cols.indexOf(name);
  const ix = {
    px: at('pxname'), sv: at('svname'), scur: at('scur'), stot: at('stot'), status: at('status'), lastsess: at('lastsess'),
    h1: at('hrsp_1xx'), h2: at('hrsp_2xx'), h3: at('hrsp_3xx'), h4: at('hrsp_4xx'), h5: at('hrsp_5xx'),
    req: at('req_tot'), ttime: at('ttime'), wretr: at('wretr'), wredis: at('wredis'), econ: at('econ'), eresp: at('eresp'),
  };
  const n = (f: string[], i: number) => (i < 0 || f[i] === '' || f[i] === undefined ? 0 : Number(f[i]));
  const rows: StatRow[] = [];
  for (const line of lines.slice(1)) {
    if (line.startsWith('#')) continue;
    const f = line.split(',');
    rows.push({
      pxname: f[ix.px], svname: f[ix.sv], scur: n(f, ix.scur), stot: n(f, ix.stot), status: f[ix.status] ?? '',
      lastsess: ix.lastsess < 0 || f[ix.lastsess] === '' ? -1 : Number(f[ix.lastsess]),
      hrsp: [n(f, ix.h1), n(f, ix.h2), n(f, ix.h3), n(f, ix.h4), n(f, ix.h5)],
      reqTot: n(f, ix.req), ttime: n(f, ix.ttime), wretr: n(f, ix.wretr), wredis: n(f, ix.wredis), econ: n(f, ix.econ), eresp: n(f, ix.eresp),
    });
  }
  return rows;
}

/** Prometheus text → per-backend HTTP response counts by class and total time average. */
export function parsePromBackends(text: string): Map<string, { hrsp: [number, number, number, number, number]; ttimeAvg: number; retries: number; redispatch: number; connErrors: number; respErrors: number; requests: number }> {
  const out = new Map<string, { hrsp: [number, number, number, number, number]; ttimeAvg: number; retries: number; redispatch: number; connErrors: number; respErrors: number; requests: number }>();
  const get = (px: string) => {
    let e = out.get(px);
    if (!e) {
      e = { hrsp: [0, 0, 0, 0, 0], ttimeAvg: 0, retries: 0, redispatch: 0, connErrors: 0, respErrors: 0, requests: 0 };
      out.set(px, e);
    }
    return e;
  };
  for (const line of text.split('\n')) {
    if (!line.startsWith('haproxy_backend_')) continue;
    const m = /^haproxy_backend_([a-z_]+)\{([^}]*)\}\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = m[2];
    const px = /proxy="([^"]*)"/.exec(labels)?.[1];
    if (px === undefined) continue;
    const v = Number(m[3]);
    switch (m[1]) {
      case 'http_responses_total': {
        const code = /code="(\d)xx"/.exec(labels)?.[1];
        if (code && code >= '1' && code <= '5') get(px).hrsp[Number(code) - 1] = v;
        break;
      }
      case 'total_time_average_seconds': get(px).ttimeAvg = v; break;
      case 'retry_warnings_total': get(px).retries = v; break;
      case 'redispatch_warnings_total': get(px).redispatch = v; break;
      case 'connection_errors_total': get(px).connErrors = v; break;
      case 'response_errors_total': get(px).respErrors = v; break;
      case 'http_requests_total': get(px).requests = v; break;
      default:
    }
  }
  return out;
}
