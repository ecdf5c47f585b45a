// Hosts that join by dialing out. `summon hosts:join-token` makes a join token (single use,
// expiring, with the labels it gives the host); `summon agent --join https://CONTROL#sha256=…
// --token jt_…` on the new host redeems it over the control plane's pinned TLS
// (POST /internal/hosts/join) for the host's own credential (`hk_<id>.<256 random bits>`; the
// store keeps its sha256), then holds one WebSocket open to /internal/hosts/connect with it.
// Each host is a RemoteAgent whose HTTP connections are streams of that WebSocket (tunnel.ts),
// so the controller, the API and the blob route see it as any other host. No restart of the
// control plane, no inbound port on the host; `summon hosts:remove` deletes the row (the
// credential with it) and closes the link.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import net from 'node:net';
import type { Instance } from '../core/types.js';
import { join } from 'node:path';
import type { WebSocket } from 'ws';
import { RemoteAgent } from '../agent/remote-agent.js';
import { Tunnel } from '../agent/tunnel.js';
import type { AgentCallbacks } from '../agent/agent.js';
import type { HostAgent } from '../agent/host-agent.js';
import { ConflictError, InvalidInputError, NotFoundError } from '../core/errors.js';
import { checkLabels } from '../core/labels.js';
import { checkHostId } from '../core/names.js';
import type { RuntimeCapability } from '../core/types.js';
import type { JoinedHost, JoinToken, Store } from '../store/store.js';
import type { Controller } from './controller.js';
import type { EventBus } from './event-bus.js';
import { silentLogger, type Logger } from '../logging/logger.js';

export const JOIN_TOKEN_PREFIX = 'jt_';
export const JOINED_CREDENTIAL_PREFIX = 'hk_';
const JOIN_TOKEN_RE = /^jt_[A-Za-z0-9_-]{43}$/;
const CREDENTIAL_RE = /^hk_([a-z](?:[a-z0-9-]{0,28}[a-z0-9])?)\.([A-Za-z0-9_-]{43})$/;
/** Longest a join token may live; the default is an hour. */
export const MAX_JOIN_TOKEN_MS = 30 * 24 * 3_600_000;
export const DEFAULT_JOIN_TOKEN_MS = 3_600_000;

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/** What a host says of itself when it joins. */
export interface JoinRequest {
  token: string;
  id: string;
  address: string;
  labels?: Record<string, string>;
  memoryBytes?: number | null;
  cpus?: number | null;
  arch?: string | null;
  runtimes?: RuntimeCapability[];
}

export interface JoinedHostsOptions {
  store: Store;
  /** The control plane's list of hosts, shared with the controller, the API and the release
   *  service: joined hosts are added to it and removed from it. */
  agents: HostAgent[];
  controller: () => Controller;
  events: EventBus;
  callbacks: AgentCallbacks;
  dataDir: string;
  now: () => number;
  logger?: Logger;
  hostLostAfterMs?: number;
  /** What the controller is given for each host (with several nodes, a gate that passes desired
   *  sets on only while this node leads). */
  wrap?: (a: HostAgent) => HostAgent;
}

interface Entry {
  agent: RemoteAgent;
  /** What is in the agents list for it. */
  listed: HostAgent;
  record: JoinedHost;
  tunnel: Tunnel | null;
  /** Instance port on the host → the local listener the router reaches it at. */
  forwards: Map<number, { server: net.Server; port: number | null }>;
  /** The latest status of each instance as the agent said it. */
  raw: Map<string, Instance>;
}

export class JoinedHosts {
  private readonly hosts = new Map<string, Entry>();
  private readonly log: Logger;

  constructor(private readonly o: JoinedHostsOptions) {
    this.log = o.logger ?? silentLogger();
  }

  /** Every host that joined before, unreachable until it dials in again. */
  async load(): Promise<void> {
    await mkdir(join(this.o.dataDir, 'hosts'), { recursive: true });
    for (const r of await this.o.store.listJoinedHosts()) this.add(r);
  }

  /** The controller exists now: it hears each host's labels, capacity and drain. */
  publish(): void {
    for (const e of this.hosts.values()) this.meta(e.record);
  }

  has(id: string): boolean {
    return this.hosts.has(id);
  }

  record(id: string): JoinedHost | undefined {
    return this.hosts.get(id)?.record;
  }

  close(): void {
    for (const e of this.hosts.values()) {
      e.agent.close();
      e.tunnel?.close(1001, 'control plane stopping');
      this.closeForwards(e);
    }
  }

  private closeForwards(e: Entry): void {
    for (const f of e.forwards.values()) f.server.close();
    e.forwards.clear();
  }

  /**
   * The router reaches a joined host's instances through its link: each instance port there
   * gets a listener on this machine's loopback whose connections are streams of the tunnel to
   * that port on the host's loopback. The status says the forwarder's address and port (none
   * until it listens: then the status is delivered again).
   */
  private forwarded(e: Entry, i: Instance): Instance {
    if (i.state === 'stopped') e.raw.delete(i.id);
    else e.raw.set(i.id, i);
    if (i.port === null || i.state === 'stopped') return { ...i, address: '127.0.0.1' };
    const target = i.port;
    let f = e.forwards.get(target);
    if (!f) {
      const server = net.createServer((client) => {
        const stream = e.tunnel?.open ? e.tunnel.openStream(target) : null;
        if (!stream) return client.destroy();
        client.pipe(stream).pipe(client);
        const done = (): void => {
          client.destroy();
          stream.destroy();
        };
        client.on('error', done).on('close', done);
        stream.on('error', done).on('close', done);
      });
      const entry: { server: net.Server; port: number | null } = { server, port: null };
      f = entry;
      e.forwards.set(target, entry);
      server.listen(0, '127.0.0.1', () => {
        entry.port = (server.address() as net.AddressInfo).port;
        for (const r of e.raw.values()) if (r.port === target) e.agent.refresh(r.id, r);
      });
      server.on('error', (err) => this.log.warn({ err, host: e.record.id, port: target }, 'instance forwarder failed'));
    }
    return { ...i, address: '127.0.0.1', port: f.port };
  }

  async createToken(o: { labels?: Record<string, string>; expiresInMs?: number; createdBy: string | null }): Promise<JoinToken & { token: string }> {
    const ttl = o.expiresInMs ?? DEFAULT_JOIN_TOKEN_MS;
    if (!Number.isInteger(ttl) || ttl < 1000 || ttl > MAX_JOIN_TOKEN_MS) {
      throw new InvalidInputError(`--expires must be from 1s to 30d, got ${ttl} ms`, { field: 'expiresInMs' });
    }
    const labels = checkLabels(o.labels ?? {});
    const token = `${JOIN_TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
    const now = this.o.now();
    const t: JoinToken = {
      id: `jt-${randomBytes(5).toString('hex')}`, prefix: token.slice(0, 7), labels, createdBy: o.createdBy,
      createdAt: now, expiresAt: now + ttl, usedAt: null, usedBy: null,
    };
    await this.o.store.createJoinToken({ ...t, hash: sha256(token) });
    return { ...t, token };
  }

  /** A host redeems its join token for its own credential (shown to it once). */
  async join(req: JoinRequest): Promise<{ hostId: string; credential: string; labels: Record<string, string> }> {
    if (typeof req.token !== 'string' || !JOIN_TOKEN_RE.test(req.token)) {
      throw new InvalidInputError('this is not a join token (jt_…): print a join command with `summon hosts:join-token` on the control plane', { field: 'token' });
    }
    checkHostId(req.id);
    if (this.o.agents.some((a) => a.hostId === req.id) && !this.hosts.has(req.id)) {
      throw new ConflictError(`host ${req.id} is already one of this control plane's hosts (the local one, or an --agent): join with another --id`);
    }
    if (typeof req.address !== 'string' || !req.address || req.address.length > 255) {
      throw new InvalidInputError('address: the address the router reaches this host at (summon agent --advertise)', { field: 'address' });
    }
    const labels = checkLabels(req.labels ?? {});
    const credential = `${JOINED_CREDENTIAL_PREFIX}${req.id}.${randomBytes(32).toString('base64url')}`;
    const record = await this.o.store.redeemJoinToken(sha256(req.token), {
      id: req.id, address: req.address, labels,
      memoryBytes: posInt(req.memoryBytes), cpus: posInt(req.cpus), arch: typeof req.arch === 'string' ? req.arch.slice(0, 32) : null,
      runtimes: Array.isArray(req.runtimes) ? req.runtimes : [], credentialHash: sha256(credential),
    }, this.o.now());
    this.add(record);
    void this.o.events.emit(null, 'host.joined', `host ${record.id} joined (${req.address}; labels ${Object.entries(record.labels).map(([k, v]) => `${k}=${v}`).join(', ') || 'none'})`,
      { host: record.id, address: req.address, labels: record.labels });
    return { hostId: record.id, credential, labels: record.labels };
  }

  /** The joined host a credential is, or null; compared in constant time against the stored hash. */
  async authenticate(given: string | null): Promise<string | null> {
    const m = given ? CREDENTIAL_RE.exec(given) : null;
    if (!m || !given) return null;
    const stored = await this.o.store.joinedHostCredential(m[1]);
    if (!stored) return null;
    const a = Buffer.from(sha256(given), 'hex');
    const b = Buffer.from(stored, 'hex');
    return a.length === b.length && timingSafeEqual(a, b) ? m[1] : null;
  }

  /** A host dialed in: its WebSocket becomes its link (a newer one replaces an older one). */
  attach(id: string, ws: WebSocket, peer: string): void {
    const e = this.hosts.get(id);
    if (!e) {
      ws.close(4001, 'this host is not joined');
      return;
    }
    const before = e.tunnel;
    const tunnel = new Tunnel(ws, peer);
    e.tunnel = tunnel;
    before?.close(4000, 'replaced by a newer link');
    // The WebSocket's own pings find a link that died without a word.
    let pong = true;
    const ping = setInterval(() => {
      if (!pong) return ws.terminate();
      pong = false;
      ws.ping();
    }, 10_000);
    ping.unref();
    ws.on('pong', () => (pong = true));
    tunnel.onClose((why) => {
      clearInterval(ping);
      if (e.tunnel !== tunnel) return;
      e.tunnel = null;
      e.agent.linkDown(`host ${id}'s link dropped: ${why}`);
    });
    this.log.info({ host: id, peer }, 'host dialed in');
    e.agent.kick();
    void this.o.store.updateJoinedHost(id, { lastSeenAt: this.o.now(), address: e.record.address })
      .then((r) => (e.record = r), (err: unknown) => this.log.warn({ err, host: id }, 'host last-seen time not stored'));
  }

  /** `summon hosts:remove`: the credential is revoked (the row deleted) and the link closed; the
   *  host's instances are replaced elsewhere. */
  async remove(id: string): Promise<void> {
    const e = this.hosts.get(id);
    const removed = await this.o.store.removeJoinedHost(id);
    if (!e && !removed) throw new NotFoundError('host', id, 'see `summon hosts`; only hosts that joined with a token can be removed');
    if (e) {
      this.hosts.delete(id);
      e.agent.close();
      e.tunnel?.close(4001, 'this host was removed (summon hosts:remove): its credential is revoked');
      this.closeForwards(e);
      const i = this.o.agents.indexOf(e.listed);
      if (i >= 0) this.o.agents.splice(i, 1);
    }
    this.o.controller().hostRemoved(id);
    void this.o.events.emit(null, 'host.removed', `host ${id} was removed: its credential is revoked and its instances are replaced elsewhere`, { host: id });
  }

  async setDraining(id: string, draining: boolean): Promise<JoinedHost> {
    const e = this.hosts.get(id);
    if (!e) throw new NotFoundError('host', id, 'see `summon hosts`');
    e.record = await this.o.store.updateJoinedHost(id, { state: draining ? 'draining' : 'active' });
    this.meta(e.record);
    return e.record;
  }

  private meta(r: JoinedHost): void {
    try {
      this.o.controller().setHostMeta(r.id, { labels: r.labels, draining: r.state === 'draining', ...(r.memoryBytes ? { memoryBytes: r.memoryBytes } : {}) });
    } catch {
      // no controller yet: publish() tells it
    }
  }

  private add(record: JoinedHost): void {
    if (this.hosts.has(record.id)) return;
    const entry: Entry = { record, tunnel: null, agent: undefined as unknown as RemoteAgent, listed: undefined as unknown as HostAgent, forwards: new Map(), raw: new Map() };
    entry.agent = new RemoteAgent({
      hostId: record.id, url: `https://${record.id}.joined`, token: 'tunneled',
      cursorFile: join(this.o.dataDir, 'hosts', `${record.id}.cursor`),
      dial: () => (entry.tunnel?.open ? entry.tunnel.openStream() : null),
      onConnected: (a) => this.o.controller().hostConnected(a),
      mapInstance: (i) => this.forwarded(entry, i),
      ...this.o.callbacks,
      logger: this.log.child({ host: record.id }),
    });
    this.hosts.set(record.id, entry);
    entry.listed = this.o.wrap ? this.o.wrap(entry.agent) : entry.agent;
    this.o.agents.push(entry.listed);
    this.meta(record);
    void entry.agent.start().catch(() => undefined);
  }
}

function posInt(v: unknown): number | null {
  return typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : null;
}
