// The control plane's side of the agent protocol (agent-server.ts): a HostAgent for an agent
// on another machine. It holds the link open (hello, then a stream of status, events and
// console lines), sends the host's whole desired set whenever the controller changes it, and
// when the link drops it says so (`summon hosts`), keeps the last known state, and reconnects
// with backoff; on reconnecting it sends the desired set again, so the control plane's view
// wins. Meanwhile the agent keeps its instances running and healing on its own.
//
//   connecting ─► connected ─► (stream ends, a call fails, no heartbeat) ─► unreachable ─► connecting
import http from 'node:http';
import type { Socket } from 'node:net';
import { PassThrough, type Duplex } from 'node:stream';
import https from 'node:https';
import { fetchPinnedCert, pinnedFingerprint } from './agent-tls.js';
import { writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Arch, Instance, RuntimeCapability, Target } from '../core/types.js';
import { runsArch } from '../core/arch.js';
import type { AgentCallbacks, DesiredInstance } from './agent.js';
import type { StreamMessage } from './agent-server.js';
import type { HostAgent, HostLink } from './host-agent.js';
import { silentLogger, type Logger } from '../logging/logger.js';

export interface RemoteAgentOptions extends AgentCallbacks {
  hostId: string;
  /** The agent's base URL, e.g. http://10.0.0.7:7171 */
  url: string;
  token: string;
  /** How long start() waits for the first hello before going on with the host unreachable. */
  connectTimeoutMs?: number;
  /** Longest pause between reconnection attempts. */
  maxRetryMs?: number;
  /** The link counts as dead after this long without a byte on the stream (heartbeats included). */
  silenceMs?: number;
  /** Where the id of the last message received is kept, so a restarted control plane asks the
   *  agent for the events and console lines it missed meanwhile. */
  cursorFile?: string;
  /** Summon's own log: a cursor that could not be saved. */
  logger?: Logger;
  /** A host that dialed out (`summon agent --join`): each HTTP connection of the protocol is a
   *  stream of its tunnel (tunnel.ts), or null while it has none. `url` is then only a name. */
  dial?: () => Duplex | null;
  /** Called once the link is up, with the agent's own desired set and instances known, before
   *  the control plane's set is sent to it: the controller adopts what it runs. */
  onConnected?: (agent: RemoteAgent) => void;
  /** How the control plane reaches an instance the agent reports (a joined host's: through its
   *  tunnel, at a local forwarder): applied to every status before anyone sees it. */
  mapInstance?: (i: Instance) => Instance;
}

interface Hello {
  hostId: string;
  address: string;
  capabilities: RuntimeCapability[];
  desired: DesiredInstance[];
  instances: Instance[];
}

export class RemoteAgent implements HostAgent {
  readonly hostId: string;
  private readonly url: URL;
  private caps: RuntimeCapability[] = [];
  private desired: DesiredInstance[] = [];
  /** Set once the controller has given a desired set: from then on it is sent on every reconnect. */
  private ours = false;
  private readonly known = new Map<string, Instance>();
  /** The desired set the agent said it holds at its last hello. */
  private reported: DesiredInstance[] = [];
  private state: HostLink = { state: 'unreachable', address: '', since: Date.now(), error: 'not connected yet' };
  private stream: http.ClientRequest | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private silenceTimer: NodeJS.Timeout | null = null;
  private retryMs = 100;
  private closed = false;
  private pushing: Promise<void> = Promise.resolve();
  /** https: the agent's certificate fingerprint, pinned by the URL, and the certificate once seen. */
  private readonly fingerprint: string | undefined;
  private pinnedCert: string | undefined;
  /** The id of the last stream message received (`<boot>:<seq>`). */
  private cursor: string | null = null;
  private cursorTimer: NodeJS.Timeout | null = null;
  private cursorUnsaved = false;
  private readonly log: Logger;

  constructor(private readonly opts: RemoteAgentOptions) {
    this.log = opts.logger ?? silentLogger();
    if (!opts.hostId) throw new Error('RemoteAgent: hostId is required');
    if (!opts.token) throw new Error('RemoteAgent: token is required');
    this.hostId = opts.hostId;
    this.url = new URL(opts.url);
    if (this.url.protocol !== 'http:' && this.url.protocol !== 'https:') {
      throw new Error(`RemoteAgent: the agent URL must be https://HOST:PORT#sha256=FINGERPRINT or http://HOST:PORT, got ${opts.url}`);
    }
    if (this.url.protocol === 'https:' && !opts.dial) this.fingerprint = pinnedFingerprint(this.url);
    this.state.address = this.url.hostname;
    this.state.url = this.url.origin;
    if (opts.dial) {
      delete this.state.url;
      this.state.error = this.noLinkReason();
    }
  }

  /** Connects once (waiting up to connectTimeoutMs); an unreachable host is not an error. */
  async start(): Promise<void> {
    if (this.opts.cursorFile) {
      try {
        this.cursor = (await readFile(this.opts.cursorFile, 'utf8')).trim() || null;
      } catch {
        // first start: nothing missed that we could ask for
      }
    }
    await Promise.race([
      this.connect(),
      new Promise<void>((r) => setTimeout(r, this.opts.connectTimeoutMs ?? 5000).unref()),
    ]);
  }

  close(): void {
    this.closed = true;
    if (this.cursorTimer) {
      clearTimeout(this.cursorTimer);
      this.saveCursor();
    }
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.silenceTimer) clearTimeout(this.silenceTimer);
    this.stream?.destroy();
  }

  async setDesired(list: DesiredInstance[]): Promise<void> {
    this.desired = list;
    this.ours = true;
    if (this.state.state !== 'connected') return; // sent when the link is back
    await this.push();
  }

  desiredSet(): DesiredInstance[] {
    return this.desired;
  }

  /** What the agent said it runs at its last hello (its own saved desired set). */
  reportedDesired(): DesiredInstance[] {
    return this.reported;
  }

  /** A tunneled host dialed in: connect now rather than at the next retry. */
  kick(): void {
    if (this.closed || this.state.state === 'connected') return;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.retryMs = 100;
    void this.connect();
  }

  /** The host's tunnel went away. */
  linkDown(why: string): void {
    this.lost(why);
  }

  instances(): Instance[] {
    return [...this.known.values()];
  }

  async capabilities(): Promise<RuntimeCapability[]> {
    return this.caps;
  }

  offers(target: Target, arch?: Arch): boolean {
    return this.caps.some((c) => c.target === target && c.available && runsArch(c.arches, arch));
  }

  link(): HostLink {
    return { ...this.state };
  }

  // ---- the link ----------------------------------------------------------------------------

  private push(): Promise<void> {
    // One PUT at a time, always the latest set.
    this.pushing = this.pushing.then(async () => {
      if (this.state.state !== 'connected') return;
      try {
        await this.call('PUT', '/v1/desired', { instances: this.desired });
      } catch (e) {
        this.lost(`sending the desired set failed: ${(e as Error).message}`);
      }
    });
    return this.pushing;
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    try {
      if (this.fingerprint && !this.pinnedCert) {
        this.pinnedCert = await fetchPinnedCert(this.url.hostname, Number(this.url.port || 443), this.fingerprint);
      }
      const hello = JSON.parse(await this.call('GET', '/v1/hello')) as Hello;
      if (hello.hostId !== this.hostId) {
        throw new Error(`the agent at ${this.url.origin} is host "${hello.hostId}", not "${this.hostId}": check --agent ${this.hostId}=URL`);
      }
      this.caps = hello.capabilities;
      this.reported = hello.desired;
      if (!this.ours) this.desired = hello.desired;
      this.known.clear();
      const map = this.opts.mapInstance ?? ((i: Instance) => i);
      hello.instances = hello.instances.map(map);
      for (const i of hello.instances) this.known.set(i.id, i);
      await this.openStream();
      this.state = { state: 'connected', address: hello.address, ...(this.opts.dial ? {} : { url: this.url.origin }), since: Date.now() };
      this.retryMs = 100;
      for (const i of hello.instances) this.opts.onStatus(i);
      this.opts.onConnected?.(this);
      if (this.ours) await this.push();
    } catch (e) {
      this.lost((e as Error).message);
    }
  }

  private openStream(): Promise<void> {
    return new Promise((resolve, reject) => {
      const after = this.cursor ? `?after=${encodeURIComponent(this.cursor)}` : '';
      const req = this.request('/v1/stream' + after, {
        method: 'GET', headers: { authorization: `Bearer ${this.opts.token}`, accept: 'text/event-stream' },
      }, (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new Error(`GET /v1/stream answered ${res.statusCode}`));
          return;
        }
        res.setEncoding('utf8');
        let buf = '';
        this.alive();
        res.on('data', (chunk: string) => {
          this.alive();
          buf += chunk;
          let end: number;
          while ((end = buf.indexOf('\n\n')) !== -1) {
            const frame = buf.slice(0, end);
            buf = buf.slice(end + 2);
            const lines = frame.split('\n');
            const data = lines.filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
            if (data) this.deliver(JSON.parse(data) as StreamMessage);
            const id = lines.find((l) => l.startsWith('id: '));
            if (id) this.advance(id.slice(4));
          }
        });
        res.on('end', () => this.lost('the agent closed the stream'));
        res.on('error', (e) => this.lost(e.message));
        resolve();
      });
      req.on('error', (e) => {
        reject(e);
        this.lost(e.message);
      });
      req.end();
      this.stream = req;
    });
  }

  private advance(id: string): void {
    this.cursor = id;
    if (!this.opts.cursorFile || this.cursorTimer) return;
    this.cursorTimer = setTimeout(() => {
      this.cursorTimer = null;
      this.saveCursor();
    }, 200);
    this.cursorTimer.unref();
  }

  private saveCursor(): void {
    if (!this.opts.cursorFile || this.cursor === null) return;
    try {
      writeFileSync(this.opts.cursorFile, `${this.cursor}\n`);
      this.cursorUnsaved = false;
    } catch (err) {
      // The next message tries again; said once until it works, not for every message.
      if (!this.cursorUnsaved) this.log.warn({ err, host: this.hostId, file: this.opts.cursorFile }, 'stream cursor not saved: a restart would replay what this host already sent');
      this.cursorUnsaved = true;
    }
  }

  /** An instance's status again, mapped anew (its forwarder is up now). */
  refresh(id: string, raw: Instance): void {
    if (this.known.has(id)) this.deliver({ kind: 'status', instance: raw });
  }

  private deliver(msg: StreamMessage): void {
    if (msg.kind === 'status' && this.opts.mapInstance) msg = { ...msg, instance: this.opts.mapInstance(msg.instance) };
    if (msg.kind === 'status') {
      if (msg.instance.state === 'stopped') this.known.delete(msg.instance.id);
      else this.known.set(msg.instance.id, msg.instance);
      this.opts.onStatus(msg.instance);
    } else if (msg.kind === 'event') {
      this.opts.onEvent(msg.event);
    } else if (msg.kind === 'console') {
      this.opts.onConsole(msg.app, msg.instance, msg.line, msg.stream, msg.at);
    }
  }

  private alive(): void {
    if (this.silenceTimer) clearTimeout(this.silenceTimer);
    this.silenceTimer = setTimeout(() => this.lost('no heartbeat from the agent'), this.opts.silenceMs ?? 15_000);
    this.silenceTimer.unref();
  }

  private lost(why: string): void {
    if (this.closed) return;
    if (this.silenceTimer) clearTimeout(this.silenceTimer);
    this.stream?.destroy();
    this.stream = null;
    if (this.state.state !== 'unreachable' || this.state.error !== why) {
      // A tunneled host keeps the first reason of an outage (why its link dropped), not each
      // failed retry's.
      const keep = this.opts.dial && this.state.state === 'unreachable' && this.state.error !== this.noLinkReason();
      if (!keep) this.state = { state: 'unreachable', address: this.state.address, ...(this.opts.dial ? {} : { url: this.url.origin }), since: Date.now(), error: why };
    }
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.connect();
    }, this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, this.opts.maxRetryMs ?? 2000);
  }

  private noLinkReason(): string {
    return `host ${this.hostId} has not dialed in (summon agent --join)`;
  }

  /** A request to the agent: over its tunnel, or over https only to the pinned certificate. */
  private request(path: string, options: http.RequestOptions, onResponse: (res: http.IncomingMessage) => void): http.ClientRequest {
    if (this.opts.dial) {
      const dial = this.opts.dial;
      return http.request(`http://${this.hostId}.tunnel${path}`, {
        ...options, agent: undefined,
        createConnection: () => {
          const s = dial();
          if (s) return s as unknown as Socket;
          const dead = new PassThrough();
          process.nextTick(() => dead.destroy(new Error(this.noLinkReason())));
          return dead as unknown as Socket;
        },
      }, onResponse);
    }
    if (!this.fingerprint) return http.request(this.url.origin + path, options, onResponse);
    const fingerprint = this.fingerprint;
    return https.request(this.url.origin + path, {
      ...options,
      ...(this.pinnedCert ? { ca: this.pinnedCert } : {}),
      // The certificate is self-signed and names no address: what identifies the agent is
      // that it is exactly the pinned certificate.
      checkServerIdentity: (_host, cert) => (cert.fingerprint256 === fingerprint ? undefined
        : new Error(`the agent's certificate is ${cert.fingerprint256}, not the pinned ${fingerprint}`)),
    }, onResponse);
  }

  private call(method: string, path: string, body?: unknown): Promise<string> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = this.request(path, {
        method, agent: false, timeout: 10_000,
        headers: { authorization: `Bearer ${this.opts.token}`, ...(payload ? { 'content-type': 'application/json' } : {}) },
      }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          if ((res.statusCode ?? 0) >= 300) {
            let msg = text;
            try {
              msg = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? text;
            } catch {
              // not JSON
            }
            reject(new Error(`${method} ${path} answered ${res.statusCode}: ${msg}`));
          } else {
            resolve(text);
          }
        });
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within 10 s`)));
      req.on('error', reject);
      req.end(payload);
    });
  }
}
