// The agent's side of joining by dialing out (`summon agent --join https://CONTROL#sha256=…
// --token jt_…`): it redeems the join token once for this host's own credential, over TLS to
// exactly the certificate the join command pins, keeps what it got in DATA/join.json (0600),
// and from then on holds one WebSocket open to the control plane (control/joined-hosts.ts),
// reconnecting with backoff, whose streams it serves as its agent protocol (tunnel.ts). The
// agent keeps running and healing its instances whether or not the link is up.
import https from 'node:https';
import { readFile, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { fetchPinnedCert, pinnedFingerprint } from './agent-tls.js';
import { Tunnel, type TunnelStream } from './tunnel.js';
import { InvalidInputError, SummonError } from '../core/errors.js';
import type { RuntimeCapability } from '../core/types.js';
import { silentLogger, type Logger } from '../logging/logger.js';

export interface JoinState {
  /** The control plane's origin (https://HOST:PORT). */
  control: string;
  fingerprint: string;
  /** Its certificate (PEM), trusted alone. */
  cert: string;
  hostId: string;
  credential: string;
  labels: Record<string, string>;
  joinedAt: number;
}

export interface HostFacts {
  address: string;
  runtimes: RuntimeCapability[];
  memoryBytes: number;
  cpus: number;
  arch: string;
}

/** https://HOST:PORT#sha256=FP → its origin and fingerprint, or a clear refusal. */
export function parseJoinUrl(text: string): { origin: string; host: string; port: number; fingerprint: string } {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new InvalidInputError(`--join ${JSON.stringify(text)} is not a URL: paste the command \`summon hosts:join-token\` printed`);
  }
  if (u.protocol !== 'https:') throw new InvalidInputError(`--join must be https://HOST:PORT#sha256=FINGERPRINT (as \`summon hosts:join-token\` prints it), got ${text}`);
  let fingerprint: string;
  try {
    fingerprint = pinnedFingerprint(u);
  } catch {
    throw new InvalidInputError(`--join must pin the control plane's certificate: https://HOST:PORT#sha256=FINGERPRINT (as \`summon hosts:join-token\` prints it), got ${text}`);
  }
  return { origin: u.origin, host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 443), fingerprint };
}

const pinned = (cert: string, fingerprint: string): https.RequestOptions => ({
  ca: cert,
  checkServerIdentity: (_host: string, c: { fingerprint256: string }) => (c.fingerprint256 === fingerprint ? undefined
    : new Error(`the control plane's certificate is ${c.fingerprint256}, not the pinned ${fingerprint}`)),
});

/** The join state on disk, or what a fresh join with `token` gives (then saved). */
export async function joinOrResume(o: { dataDir: string; url: string; token?: string; hostId: string; facts: () => Promise<HostFacts>; logger?: Logger }): Promise<JoinState> {
  const log = o.logger ?? silentLogger();
  const target = parseJoinUrl(o.url);
  const file = join(o.dataDir, 'join.json');
  const saved = await readFile(file, 'utf8').then((t) => JSON.parse(t) as JoinState, () => null);
  if (saved && saved.control === target.origin && saved.fingerprint === target.fingerprint) {
    if (saved.hostId !== o.hostId) throw new InvalidInputError(`this data directory joined ${target.origin} as host ${saved.hostId}, not ${o.hostId}: run with --id ${saved.hostId}, or another --data to join as a new host`);
    if (o.token) log.info({ host: saved.hostId }, 'joined already: the saved credential is used, the join token is not needed');
    return saved;
  }
  if (!o.token) throw new InvalidInputError(`this host has not joined ${target.origin} yet: give --token JOIN (from \`summon hosts:join-token\` on the control plane)`);
  const cert = await fetchPinnedCert(target.host, target.port, target.fingerprint).catch((e: Error) => {
    throw new SummonError('conflict', `cannot reach the control plane at ${target.origin} over its pinned TLS: ${e.message}`);
  });
  const facts = await o.facts();
  const body = JSON.stringify({ token: o.token, id: o.hostId, ...facts });
  const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = https.request(`${target.origin}/internal/hosts/join`, {
      method: 'POST', agent: false, timeout: 15_000, ...pinned(cert, target.fingerprint),
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 15 s')));
    req.on('error', reject);
    req.end(body);
  });
  let parsed: { hostId?: string; credential?: string; labels?: Record<string, string>; error?: { code?: string; message?: string } } = {};
  try {
    parsed = JSON.parse(answer.text) as typeof parsed;
  } catch {
    // not JSON: said below
  }
  if (answer.status !== 201 || !parsed.credential || !parsed.hostId) {
    const code = parsed.error?.code === 'unauthorized' || parsed.error?.code === 'conflict' || parsed.error?.code === 'invalid_input' ? parsed.error.code : 'conflict';
    throw new SummonError(code as 'conflict', `the control plane refused the join: ${parsed.error?.message ?? `HTTP ${answer.status} ${answer.text.slice(0, 200)}`}`);
  }
  const state: JoinState = {
    control: target.origin, fingerprint: target.fingerprint, cert, hostId: parsed.hostId, credential: parsed.credential,
    labels: parsed.labels ?? {}, joinedAt: Date.now(),
  };
  await writeFile(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  await rename(`${file}.tmp`, file);
  log.info({ host: state.hostId, control: state.control, labels: state.labels }, 'joined');
  return state;
}

export interface JoinLinkOptions {
  state: JoinState;
  /** A stream the control plane opened: an agent protocol connection, or (port) to an instance. */
  onStream: (s: TunnelStream, port?: number) => void;
  /** The control plane says this host was removed: its credential is revoked. */
  onRevoked: (why: string) => void;
  onUp?: () => void;
  logger?: Logger;
  maxRetryMs?: number;
}

/** The long-lived link: one WebSocket at a time, reconnected with backoff (100 ms doubling to 5 s, jittered). */
export class JoinLink {
  private ws: WebSocket | null = null;
  private retryMs = 100;
  private timer: NodeJS.Timeout | null = null;
  private ping: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly log: Logger;
  /** Since when the link is up (null: down), for whoever asks. */
  upSince: number | null = null;

  constructor(private readonly o: JoinLinkOptions) {
    this.log = o.logger ?? silentLogger();
  }

  start(): void {
    this.connect();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.ping) clearInterval(this.ping);
    this.ws?.close(1001, 'agent stopping');
    this.ws?.terminate();
  }

  private connect(): void {
    if (this.closed) return;
    const { state } = this.o;
    const url = `${state.control.replace(/^https:/, 'wss:')}/internal/hosts/connect`;
    const ws = new WebSocket(url, {
      headers: { authorization: `Bearer ${state.credential}` }, handshakeTimeout: 10_000, maxPayload: 64 * 1024 * 1024,
      ...pinned(state.cert, state.fingerprint),
    });
    this.ws = ws;
    let settled = false;
    const retry = (why: string): void => {
      if (settled) return;
      settled = true;
      this.upSince = null;
      if (this.ping) clearInterval(this.ping);
      if (this.closed) return;
      const wait = Math.round(this.retryMs * (0.75 + Math.random() * 0.5));
      this.log.warn({ control: state.control, retryInMs: wait }, `link to the control plane down: ${why}`);
      this.timer = setTimeout(() => this.connect(), wait);
      this.retryMs = Math.min(this.retryMs * 2, this.o.maxRetryMs ?? 5000);
    };
    const revoked = (why: string): void => {
      if (settled) return;
      settled = true;
      this.closed = true;
      this.o.onRevoked(why);
    };
    ws.on('unexpected-response', (_req, res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        let code = '';
        let message = text;
        try {
          const e = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
          code = e?.code ?? '';
          message = e?.message ?? text;
        } catch {
          // not JSON
        }
        if (res.statusCode === 401 && code === 'revoked') revoked(message);
        else retry(`the control plane answered ${res.statusCode}: ${message}`);
        ws.terminate();
      });
    });
    ws.on('open', () => {
      this.retryMs = 100;
      this.upSince = Date.now();
      new Tunnel(ws, 'control plane', this.o.onStream);
      this.log.info({ control: state.control, host: state.hostId }, 'linked to the control plane');
      let pong = true;
      this.ping = setInterval(() => {
        if (!pong) return ws.terminate();
        pong = false;
        ws.ping();
      }, 10_000);
      this.ping.unref();
      ws.on('pong', () => (pong = true));
      this.o.onUp?.();
    });
    ws.on('close', (code: number, reason: Buffer) => {
      if (code === 4001) return revoked(reason.toString() || 'this host was removed from the control plane');
      retry(`closed (${code}${reason.length ? ` ${reason.toString()}` : ''})`);
    });
    ws.on('error', (e: Error) => retry(e.message));
  }
}
