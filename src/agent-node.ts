// The composition root of `summon agent`: one host's agent, serving the agent protocol to a
// control plane elsewhere (agent/agent-server.ts), fetching artifacts from it, and keeping
// its desired set running and healing on its own while the control plane is away.
import { resolve, join } from 'node:path';
import { hostname } from 'node:os';
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
}

export interface RunningAgentNode {
  hostId: string;
  url: string;
  logger: Logger;
  stop(opts?: { stopInstances?: boolean }): Promise<void>;
}

export async function startAgentNode(o: AgentNodeOptions): Promise<RunningAgentNode> {
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
