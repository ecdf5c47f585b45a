// The agent protocol over HTTP: what `summon agent` serves on a host of its own, for the
// control plane's RemoteAgent. The same calls the in-process Agent takes, nothing more:
//
//   GET  /v1/hello    → { hostId, address, capabilities, desired, instances }
//   PUT  /v1/desired  ← { instances: DesiredInstance[] }            → 204
//   GET  /v1/stream   → server-sent events `status`, `event`, `console` (JSON), and a
//       [?after=ID]     comment every heartbeatMs so either side notices a dead link. Each
//                       message has an id `<boot>:<seq>`; events and console lines are also
//                       kept in a bounded backlog, and a client that says which id it saw last
//                       first gets what it missed (statuses need no replay: /v1/hello has them)
//
// A client that stops reading is dropped (core/sse-writer.ts), not buffered for: it reconnects
// with its cursor and the backlog fills the gap. The backlog itself goes out at the client's
// pace, so a long one does not trip that bound.
//
// Every request needs `Authorization: Bearer <this host's credential>` (host-credential.ts),
// compared in constant time; an address that fails too often is answered 429 for a while
// (api/auth-limiter.ts). The agent goes on running and healing its desired set (kept on its
// disk) whether or not anyone is connected.
import http from 'node:http';
import https from 'node:https';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Instance } from '../core/types.js';
import type { Agent, AgentCallbacks, AgentEvent } from './agent.js';
import { parseDesiredSet } from './desired-schema.js';
import { StreamJournal, type JournalEntry } from './stream-journal.js';
import type { Logger } from '../logging/logger.js';
import { SseWriter, sseLimits, type SseDrop } from '../core/sse-writer.js';
import { AuthLimiter } from '../api/auth-limiter.js';

export interface AgentServerOptions {
  token: string;
  /** Further tokens accepted beside `token` (a host given the control plane's shared secret
   *  accepts it too: see host-credential.ts). */
  alsoAccept?: string[];
  /** Failed authentications allowed per address before 429s (api/auth-limiter.ts). */
  authLimiter?: AuthLimiter;
  host: string;
  port: number;
  heartbeatMs?: number;
  /** Largest PUT /v1/desired body accepted. */
  maxBodyBytes?: number;
  /** Events and console lines kept for a client that reconnects (default 5000). */
  backlog?: number;
  /** Keep the backlog on disk too (stream-journal.ts), so it outlives a restart of the agent. */
  journal?: string;
  /** Serve HTTPS with this key and (self-signed, pinned by the control plane) certificate. */
  tls?: { key: string; cert: string };
  /** Bounds for each stream: a control plane that stops reading is dropped (defaults 1 MiB, 10 s). */
  sse?: { maxBufferedBytes?: number; drainTimeoutMs?: number };
  onStreamDropped?: (drop: SseDrop) => void;
  /** Summon's own log (the journal's failed writes). */
  logger?: Logger;
}

export type StreamMessage =
  | { kind: 'status'; instance: Instance }
  | { kind: 'event'; event: AgentEvent }
  | { kind: 'console'; app: string; instance: string; line: string; stream: string; at?: number };

export class AgentServer {
  private agent: Agent | undefined;
  private readonly server: http.Server;
  private readonly streams = new Set<SseWriter>();
  /** Streams still being sent their backlog, with the latest status frame of each instance
   *  published meanwhile (statuses are not in the backlog). */
  private readonly replaying = new Map<SseWriter, Map<string, string>>();
  private readonly sseBounds: { maxBufferedBytes: number; drainTimeoutMs: number };
  private readonly heartbeat: NodeJS.Timeout;
  private readonly tokens: Buffer[];
  private readonly limiter: AuthLimiter;
  private readonly maxBody: number;
  /** Message ids are `<boot>:<seq>`; a client's cursor from another boot is not ours. With a
   *  journal the boot is the journal's id and outlives restarts. */
  private readonly boot: string;
  private seq = 0;
  private backlog: JournalEntry[] = [];
  private readonly backlogMax: number;
  private readonly journal: StreamJournal | undefined;

  constructor(private readonly opts: AgentServerOptions) {
    if (!opts.token || opts.token.length < 16) throw new Error('AgentServer: the agent token must be at least 16 characters');
    this.tokens = [opts.token, ...(opts.alsoAccept ?? [])].map(digest);
    this.limiter = opts.authLimiter ?? new AuthLimiter();
    this.maxBody = opts.maxBodyBytes ?? 16 * 1024 * 1024;
    this.backlogMax = opts.backlog ?? 5000;
    this.sseBounds = sseLimits(opts.sse);
    if (opts.journal) {
      const j = StreamJournal.open(opts.journal, this.backlogMax, opts.logger);
      this.journal = j.journal;
      this.boot = j.id;
      this.seq = j.seq;
      this.backlog = j.entries;
    } else {
      this.boot = randomBytes(6).toString('hex');
    }
    const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => void this.handle(req, res);
    this.server = opts.tls ? https.createServer({ key: opts.tls.key, cert: opts.tls.cert }, handler) : http.createServer(handler);
    this.heartbeat = setInterval(() => {
      for (const out of this.streams) out.write(': heartbeat\n\n');
    }, opts.heartbeatMs ?? 5000);
    this.heartbeat.unref();
  }

  /** The callbacks for the agent this server serves: everything it reports goes on the stream. */
  callbacks(): AgentCallbacks {
    return {
      onStatus: (instance) => this.publish({ kind: 'status', instance }),
      onEvent: (event) => this.publish({ kind: 'event', event }),
      onConsole: (app, instance, line, stream) => this.publish({ kind: 'console', app, instance, line, stream }),
    };
  }

  /** The agent is made after the server (with its callbacks()), then attached. */
  attach(agent: Agent): void {
    this.agent = agent;
  }

  publish(msg: StreamMessage): void {
    const seq = ++this.seq;
    const at = Date.now();
    const stamped = msg.kind === 'event' ? { ...msg, event: { ...msg.event, at: msg.event.at ?? at } }
      : msg.kind === 'console' ? { ...msg, at: msg.at ?? at } : msg;
    const frame = `id: ${this.boot}:${seq}\nevent: ${msg.kind}\ndata: ${JSON.stringify(stamped)}\n\n`;
    if (msg.kind !== 'status') {
      this.backlog.push({ seq, frame });
      this.journal?.append({ seq, frame }, () => this.backlog);
      // Trimmed in one splice once a tenth over, not one shift per message.
      if (this.backlog.length > this.backlogMax * 1.1) this.backlog.splice(0, this.backlog.length - this.backlogMax);
    }
    for (const out of this.streams) out.write(frame);
    if (msg.kind === 'status') {
      for (const pending of this.replaying.values()) pending.set(msg.instance.id, `event: status\ndata: ${JSON.stringify(stamped)}\n\n`);
    }
  }

  /** Open streams (a dropped or closed one leaves at once). */
  get streamCount(): number {
    return this.streams.size + this.replaying.size;
  }

  /** The seq a client that last saw `after` (`<boot>:<seq>`) is owed messages after: null for
   *  none (no cursor), 0 for the whole backlog (a cursor from another boot of this agent). */
  private replayFrom(after: string | null): number | null {
    if (after === null) return null;
    const [boot, seqText] = after.split(':');
    return boot === this.boot ? Number(seqText) || 0 : 0;
  }

  /** Sends what the client missed at its pace, then whatever came meanwhile, then joins it to
   *  the live streams. Nothing awaits between the last look at the backlog and joining, so
   *  no message is missed or sent twice; statuses published meanwhile follow the backlog. */
  private async replay(out: SseWriter, since: number | null): Promise<void> {
    const pending = new Map<string, string>();
    this.replaying.set(out, pending);
    try {
      let seq = since;
      while (seq !== null) {
        const from: number = seq;
        const batch = this.backlog.filter((b) => b.seq > from);
        if (batch.length === 0) break;
        for (const b of batch) {
          if (!out.hasRoom && !(await out.room())) return;
          if (!out.write(b.frame)) return;
          seq = b.seq;
        }
      }
      for (const frame of pending.values()) out.write(frame);
      if (out.open) this.streams.add(out);
    } finally {
      this.replaying.delete(out);
    }
  }

  async listen(): Promise<{ port: number }> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port, this.opts.host, () => resolve());
    });
    return { port: (this.server.address() as AddressInfo).port };
  }

  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    await this.journal?.flush();
    for (const out of [...this.streams, ...this.replaying.keys()]) out.end();
    this.streams.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
  }

  /** Streams of this host's own tunnel to the control plane (tunnel.ts): the link it opened
   *  itself, to the control plane it pinned, with its own credential, so what comes over it
   *  needs no token. */
  private readonly tunneled = new WeakSet<object>();

  /** Serves one stream of the tunnel as an accepted connection. */
  acceptTunnel(stream: Duplex): void {
    this.tunneled.add(stream);
    this.server.emit('connection', stream);
  }

  private authorized(req: http.IncomingMessage): boolean {
    if (this.tunneled.has(req.socket)) return true;
    const h = req.headers.authorization ?? '';
    const given = digest(h.startsWith('Bearer ') ? h.slice(7) : '');
    let ok = false;
    for (const t of this.tokens) ok = timingSafeEqual(given, t) || ok; // every one compared: no early exit
    return ok;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    const address = req.socket.remoteAddress ?? 'unknown';
    const wait = this.limiter.retryAfter(address);
    if (wait > 0) {
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': String(wait) });
      res.end(JSON.stringify({ error: { code: 'rate_limited', message: `too many failed authentications from ${address}: try again in ${wait} s` } }));
      return;
    }
    if (!this.authorized(req)) {
      this.limiter.failed(address);
      return send(401, { error: { code: 'unauthorized', message: 'the agent token is missing or not valid: pass this host\'s credential (`summon hosts:credential ID` on the control plane)' } });
    }
    const agent = this.agent;
    if (!agent) return send(503, { error: { code: 'starting', message: 'the agent is still starting; try again' } });
    const url = new URL(req.url ?? '/', 'http://agent');
    const path = url.pathname;
    try {
      if (req.method === 'GET' && path === '/v1/hello') {
        return send(200, {
          hostId: agent.hostId, address: agent.link().address, capabilities: await agent.capabilities(),
          desired: agent.desiredSet(), instances: agent.instances(),
        });
      }
      if (req.method === 'PUT' && path === '/v1/desired') {
        const list = parseDesiredSet(JSON.parse(await readBody(req, this.maxBody)));
        if (list instanceof Error) return send(400, { error: { code: 'invalid_input', message: list.message } });
        await agent.setDesired(list);
        res.writeHead(204).end();
        return;
      }
      if (req.method === 'GET' && path === '/v1/stream') {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
        res.flushHeaders();
        req.socket.setNoDelay(true);
        const out = new SseWriter(res, {
          ...this.sseBounds,
          dropFrame: () => ': dropped for reading too slowly; reconnect with ?after=<the last id seen>\n\n',
          ...(this.opts.onStreamDropped ? { onDrop: this.opts.onStreamDropped } : {}),
        });
        res.on('close', () => this.streams.delete(out));
        await this.replay(out, this.replayFrom(url.searchParams.get('after')));
        return;
      }
      send(404, { error: { code: 'not_found', message: `no ${req.method} ${path} in the agent protocol` } });
    } catch (e) {
      send(400, { error: { code: 'invalid_input', message: (e as Error).message } });
    }
  }
}

function readBody(req: http.IncomingMessage, max: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        reject(new Error(`body larger than ${max} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}
