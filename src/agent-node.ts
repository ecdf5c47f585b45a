// The composition root of `summon agent`: one host's agent, serving the agent protocol to a
// control plane elsewhere (agent/agent-server.ts), fetching artifacts from it, and keeping
// its desired set running and healing on its own while the control plane is away.
import { resolve, join } from 'node:path';
import { cpus, hostname, totalmem } from 'node:os';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { JoinLink, joinOrResume, parseJoinUrl } from './agent/join-link.js';
import { Agent } from './agent/agent.js';
import { AgentServer } from './agent/agent-server.js';
import { loadOrMakeAgentCert } from './agent/agent-tls.js';
import { BlobFetcher } from './agent/blob-fetch.js';
import { BlobStore } from './artifacts/blob-store.js';
import { ProcessRuntime } from './runtimes/process/process-runtime.js';
import { makeDataDir, openConfinement } from './isolation/data-dir.js';
import type { UidRange } from './isolation/uids.js';
import { vmRuntimes } from './runtimes/vm-runtimes.js';
import { InvalidInputError } from './core/errors.js';
import { checkHostId } from './core/names.js';
import { createLogger, silentLogger, type Logger, type LoggerOptions } from './logging/logger.js';
import { logEvent } from './logging/event-log.js';
import { agentCredentials } from './agent/host-credential.js';

export interface AgentNodeOptions {
  /** This host's id; the control plane names it the same in `--agent ID=URL`. */
  id?: string;
  dataDir: string;
  listenHost: string;
  listenPort: number;
  /** The address the router reaches this host's instances at. */
  advertise: string;
  /** The control plane's API, for artifacts. */
  controlUrl: string;
  /** This host's credential (`summon hosts:credential ID`), or the control plane's shared agent secret. */
  token: string;
  /** Offer the qemu runtime too (default true). */
  vm?: boolean;
  /** `summon agent --unconfined`: process instances run as this agent's user (isolation/data-dir.ts). */
  unconfined?: boolean;
  /** `--uid-range FIRST-LAST`: the uids this host gives apps. */
  uidRange?: UidRange;
  /** Serve the agent protocol over TLS with a self-signed certificate the control plane pins
   *  (default true); false serves plain HTTP. */
  tls?: boolean;
  /** This host's own log (`summon agent --log-level`): its events and what failed quietly,
   *  on stderr. Without it nothing is logged. */
  log?: LoggerOptions;
  /** `summon agent --join URL --token JOIN`: this host dials out to the control plane (no
   *  listening port; controlUrl, token, listen and tls are not used). The token is needed the
   *  first time only: the credential it is redeemed for is kept in DATA/join.json. */
  join?: { url: string; token?: string };
  /** The control plane removed this host (`summon hosts:remove`): its instances are stopped. */
  onRevoked?: (why: string) => void;
}

export interface RunningAgentNode {
  hostId: string;
  url: string;
  logger: Logger;
  stop(opts?: { stopInstances?: boolean }): Promise<void>;
}

export async function startAgentNode(o: AgentNodeOptions): Promise<RunningAgentNode> {
  if (o.join) return startJoinedAgentNode(o, o.join);
  const hostId = o.id ?? (hostname() || 'agent');
  checkHostId(hostId);
  if (!o.advertise) throw new InvalidInputError('--advertise is required: the address the router reaches this host at');
  if (o.token.length < 16) throw new InvalidInputError('the agent token is too short to be a host credential: print this host\'s with `summon hosts:credential ID` on the control plane (--token-file)');
  let creds: ReturnType<typeof agentCredentials>;
  try {
    creds = agentCredentials(o.token, hostId);
  } catch (e) {
    throw new InvalidInputError((e as Error).message);
  }
  const logger = o.log ? createLogger({ name: 'summon agent', ...o.log }) : silentLogger();
  if (creds.shared) {
    logger.warn({ host: hostId }, 'this host was given the control plane\'s shared agent secret, which makes every host\'s credential: give it only its own (`summon hosts:credential ' + hostId + '` on the control plane)');
  }
  const dataDir = resolve(o.dataDir);
  await makeDataDir(dataDir);
  const { confiner } = await openConfinement(dataDir, { ...(o.unconfined ? { unconfined: true } : {}), ...(o.uidRange ? { uidRange: o.uidRange } : {}), logger: logger.child({ component: 'isolation' }) });
  const blobs = new BlobStore({ dir: join(dataDir, 'blobs') });
  const fetcher = new BlobFetcher({ controlUrl: o.controlUrl, token: creds.send, blobs });
  const cert = o.tls === false ? undefined : await loadOrMakeAgentCert(join(dataDir, 'tls'), hostId);
  const server = new AgentServer({
    token: creds.send, alsoAccept: creds.accept.filter((t) => t !== creds.send), host: o.listenHost, port: o.listenPort, journal: join(dataDir, 'stream.journal'),
    ...(cert ? { tls: { key: cert.key, cert: cert.cert } } : {}),
    logger: logger.child({ component: 'agent-server' }),
    onStreamDropped: (drop) => logger.warn({ component: 'agent-server', reason: drop.reason, bufferedBytes: drop.bufferedBytes }, `control plane stream dropped: ${drop.message}`),
  });
  const callbacks = server.callbacks();
  // The control plane stores and logs these events too; this host's own log has them for
  // whoever looks at this host (and while the control plane is away).
  const eventLog = logger.child({ component: 'events' });
  const stateDir = join(dataDir, 'agent');
  const agent = new Agent({
    hostId, dataDir: stateDir,
    runtimes: [
      new ProcessRuntime({ stateDir, ...(confiner ? { confiner } : {}) }),
      // VMs on QEMU's user-mode network, the port forwarded on every address of this host.
      ...(o.vm === false ? [] : await vmRuntimes(stateDir, { forwardAddress: '0.0.0.0', ...(confiner ? { confiner } : {}) })),
    ],
    artifactPath: (sha) => blobs.path(sha),
    prepare: async (d) => {
      await fetcher.ensure(d.artifactSha256);
      if (d.initrdSha256) await fetcher.ensure(d.initrdSha256);
    },
    // A local copy found missing or altered before a start is fetched again once.
    refetch: (sha) => fetcher.refetch(sha),
    advertise: o.advertise,
    ...callbacks,
    onEvent: (e) => {
      logEvent(eventLog, { type: e.type, app: e.app, message: e.message, data: { instance: e.instance, ...(e.data ?? {}) } });
      callbacks.onEvent(e);
    },
    logger: logger.child({ component: 'agent' }),
  });
  server.attach(agent);
  await agent.start();
  let port: number;
  try {
    ({ port } = await server.listen());
  } catch (e) {
    await agent.close({ stopInstances: false });
    throw new InvalidInputError(`cannot listen on ${o.listenHost}:${o.listenPort}: ${(e as Error).message}`);
  }
  const at = `${o.listenHost === '0.0.0.0' ? o.advertise : o.listenHost}:${port}`;
  const url = cert ? `https://${at}#sha256=${cert.fingerprint}` : `http://${at}`;
  logger.info({ host: hostId, url, control: o.controlUrl, data: dataDir }, 'started');
  return {
    hostId,
    url,
    logger,
    stop: async (opts = {}) => {
      logger.info('stopping');
      await server.close();
      await agent.close({ stopInstances: opts.stopInstances ?? true });
      logger.info('stopped');
    },
  };
}

const ARCH_OF: Record<string, string> = { x64: 'x86_64', arm64: 'aarch64' };

/** `summon agent --join`: the same agent, linked by a connection it opens itself (agent/join-link.ts). */
async function startJoinedAgentNode(o: AgentNodeOptions, j: { url: string; token?: string }): Promise<RunningAgentNode> {
  const hostId = o.id ?? (hostname() || 'agent');
  checkHostId(hostId);
  parseJoinUrl(j.url);
  if (j.token !== undefined && !/^jt_[A-Za-z0-9_-]{43}$/.test(j.token)) {
    throw new InvalidInputError('--token is not a join token (jt_…): paste the command `summon hosts:join-token` printed on the control plane');
  }
  const logger = o.log ? createLogger({ name: 'summon agent', ...o.log }) : silentLogger();
  const dataDir = resolve(o.dataDir);
  await makeDataDir(dataDir);
  const { confiner } = await openConfinement(dataDir, { ...(o.unconfined ? { unconfined: true } : {}), ...(o.uidRange ? { uidRange: o.uidRange } : {}), logger: logger.child({ component: 'isolation' }) });
  const blobs = new BlobStore({ dir: join(dataDir, 'blobs') });
  let fetcher: BlobFetcher | undefined;
  // Served over the tunnel only (it never listens): the token is not used on it.
  const server = new AgentServer({
    token: `tunnel-only-${randomBytes(16).toString('hex')}`, host: '127.0.0.1', port: 0, journal: join(dataDir, 'stream.journal'),
    logger: logger.child({ component: 'agent-server' }),
    onStreamDropped: (drop) => logger.warn({ component: 'agent-server', reason: drop.reason, bufferedBytes: drop.bufferedBytes }, `control plane stream dropped: ${drop.message}`),
  });
  const callbacks = server.callbacks();
  const eventLog = logger.child({ component: 'events' });
  const stateDir = join(dataDir, 'agent');
  const agent = new Agent({
    hostId, dataDir: stateDir,
    runtimes: [
      new ProcessRuntime({ stateDir, ...(confiner ? { confiner } : {}) }),
      ...(o.vm === false ? [] : await vmRuntimes(stateDir, { forwardAddress: '0.0.0.0', ...(confiner ? { confiner } : {}) })),
    ],
    artifactPath: (sha) => blobs.path(sha),
    prepare: async (d) => {
      if (!fetcher) throw new Error('not joined yet');
      await fetcher.ensure(d.artifactSha256);
      if (d.initrdSha256) await fetcher.ensure(d.initrdSha256);
    },
    refetch: (sha) => fetcher ? fetcher.refetch(sha) : Promise.reject(new Error('not joined yet')),
    // The control plane reaches instances through the link (control/joined-hosts.ts): the
    // address is this host's own, for its log and `summon ps` on it.
    advertise: o.advertise || '127.0.0.1',
    ...callbacks,
    onEvent: (e) => {
      logEvent(eventLog, { type: e.type, app: e.app, message: e.message, data: { instance: e.instance, ...(e.data ?? {}) } });
      callbacks.onEvent(e);
    },
    logger: logger.child({ component: 'agent' }),
  });
  const state = await joinOrResume({
    dataDir, url: j.url, ...(j.token ? { token: j.token } : {}), hostId, logger,
    facts: async () => ({
      address: o.advertise || hostname() || hostId, runtimes: await agent.capabilities(), memoryBytes: totalmem(), cpus: cpus().length,
      arch: ARCH_OF[process.arch] ?? process.arch,
    }),
  });
  fetcher = new BlobFetcher({ controlUrl: state.control, token: state.credential, blobs, tls: { cert: state.cert, fingerprint: state.fingerprint } });
  server.attach(agent);
  await agent.start();
  let revoked = false;
  const link = new JoinLink({
    state, logger: logger.child({ component: 'link' }),
    onStream: (s, port) => {
      if (port === undefined) return server.acceptTunnel(s);
      // The router reaching an instance of this host.
      const sock = net.connect({ host: '127.0.0.1', port });
      s.pipe(sock).pipe(s);
      const done = (): void => {
        sock.destroy();
        s.destroy();
      };
      sock.on('error', done).on('close', done);
      s.on('error', done).on('close', done);
    },
    onRevoked: (why) => {
      if (revoked) return;
      revoked = true;
      logger.error({ host: hostId, control: state.control }, `this host was removed from the control plane: ${why}; stopping its instances`);
      void agent.setDesired([]).catch(() => undefined).then(() => o.onRevoked?.(why));
    },
  });
  link.start();
  const url = `${state.control} (joined, dialing out)`;
  logger.info({ host: hostId, control: state.control, data: dataDir }, 'started');
  return {
    hostId,
    url,
    logger,
    stop: async (opts = {}) => {
      logger.info('stopping');
      link.close();
      await server.close();
      await agent.close({ stopInstances: opts.stopInstances ?? true });
      logger.info('stopped');
    },
  };
}
