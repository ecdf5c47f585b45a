// What every route group of the API shares: the services (ApiDeps), the clock, the app view,
// the app checks, and the two ways long answers stream (NDJSON progress, SSE).
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { HostAgent } from '../agent/host-agent.js';
import type { GitHttpBackend } from '../git/git-http.js';
import type { RepoManager } from '../git/repos.js';
import type { Controller } from '../control/controller.js';
import type { JoinedHosts } from '../control/joined-hosts.js';
import type { EventBus } from '../control/event-bus.js';
import type { LogStore } from '../control/log-store.js';
import type { ReleaseService } from '../control/release-service.js';
import type { Secrets } from '../control/secrets.js';
import type { EdgeService } from '../control/edge-service.js';
import { NotFoundError, toSummonError } from '../core/errors.js';
import { checkAppName } from '../core/names.js';
import { sseLimits } from '../core/sse-writer.js';
import type { DrainManager } from '../drains/drain-manager.js';
import type { BlobStore } from '../artifacts/blob-store.js';
import type { SeriesPoint } from '../sdk/types.js';
import type { Store } from '../store/store.js';
import type { AcmeManager } from '../acme/manager.js';
import type { AuditLog } from './audit-log.js';
import type { Authenticator } from './auth.js';
import type { ClusterView } from '../sdk/types.js';
import type { GuardDeps } from './guard.js';
import type { PushGrants } from './push-grants.js';
import { sseStream, type SseRoom, type SseSend } from './sse.js';
import { appState, type AppView } from './views.js';

export interface ApiDeps {
  /** certs:auto (acme/manager.ts): the routes exist with it. */
  acme?: AcmeManager;
  store: Store;
  controller: Controller;
  releases: ReleaseService;
  repos: RepoManager;
  git: GitHttpBackend;
  logs: LogStore;
  events: EventBus;
  secrets: Secrets;
  agents: HostAgent[];
  /** Which data plane this node runs (shown on the local host in GET /api/hosts). */
  dataPlane?: () => string;
  /** The secret each remote host's credential is derived from (agent/host-credential.ts):
   *  what GET /internal/blobs/:sha256 checks, and POST /api/hosts/:host/credential prints. */
  agentToken?: string;
  /** Hosts that join by dialing out (control/joined-hosts.ts), and the SHA-256 fingerprint of
   *  the certificate the API port presents them, which the join command pins. */
  joined?: JoinedHosts;
  controlFingerprint?: string;
  /** Tokens (auth.ts), the audit log (audit-log.ts) and the push hook's per-push credential. */
  auth: Authenticator;
  audit: AuditLog;
  pushes: PushGrants;
  appUrl: (app: string) => string;
  gitUrl: (app: string) => string;
  /** Prometheus text for GET /metrics. */
  metricsText: () => Promise<string>;
  /** Time series for the dashboard charts. */
  series: (app: string) => SeriesPoint[];
  webDir?: string;
  now?: () => number;
  onAppDestroyed?: (app: string) => Promise<void>;
  /** The blob store path of an artifact; enables the disk image export routes. */
  artifactPath?: (sha256: string) => string;
  /** Bounds for the SSE streams (logs, events): a client that stops reading is dropped. */
  sse?: { maxBufferedBytes?: number; drainTimeoutMs?: number };
  /** `summon up --webhooks-allow-private`: webhooks may target loopback, private and metadata addresses. */
  webhooksAllowPrivate?: boolean;
  /** Log drains; `drainsAllowPrivate` is `summon up --drains-allow-private`. */
  drains?: DrainManager;
  drainsAllowPrivate?: boolean;
  /** `summon up --price-per-instance-second` (GET /api/usage shows a cost with it). */
  pricePerInstanceSecond?: number | null;
  /** Least observed time before rightsizing advice (default 1 h). */
  adviceMinWindowMs?: number;
  /** Custom domains and certificates (control/edge-service.ts): the routes exist with it. */
  edge?: EdgeService;
  /** CI uploads (`summon deploy`): the blob store they go to, where they are spooled, and the most one may be. */
  blobs?: BlobStore;
  uploadDir?: string;
  maxUploadBytes?: number;
  /** GET /api/cluster: the nodes, the leader and the store (answered by each node itself). */
  cluster?: () => Promise<ClusterView>;
}

export interface ApiContext {
  d: ApiDeps;
  now: () => number;
  gate: GuardDeps;
  /** The app as the API shows it; NotFoundError when there is none. */
  view(name: string): Promise<AppView>;
  requireApp(name: string): Promise<void>;
  /** The `:app` of the request, checked against the name rule. */
  appParam(req: FastifyRequest<{ Params: { app: string } }>): string;
  /** Long operations: NDJSON progress lines, then a final result frame. */
  streamed(reply: FastifyReply, run: (out: (l: string) => void) => Promise<Record<string, unknown>>): Promise<void>;
  sse(reply: FastifyReply, start: (send: SseSend, room: SseRoom) => () => void): void;
}

export function apiContext(d: ApiDeps): ApiContext {
  const now = d.now ?? Date.now;
  const sseBounds = sseLimits(d.sse);
  const view = async (name: string): Promise<AppView> => {
    const app = d.controller.app(name) ?? (await d.store.getApp(name));
    if (!app) throw new NotFoundError('app', name, 'see `summon apps`');
    const instances = d.controller.instances(name);
    const day = new Date(now()).toISOString().slice(0, 10);
    const stored = await d.store.getUsage(name, day);
    return {
      name, url: d.appUrl(name), gitUrl: d.gitUrl(name), state: appState(app, instances),
      liveVersion: app.liveVersion, targetVersion: app.targetVersion, desiredCount: app.desiredCount,
      instances: { total: instances.length, healthy: instances.filter((i) => i.state === 'healthy').length },
      scale: d.controller.policy(name),
      scalePolicySource: app.scalePolicy ? 'autoscale' : app.liveVersion !== null ? 'manifest' : 'default',
      manualHoldUntil: d.controller.app(name) ? d.controller.manualHoldUntil(name) : null,
      usageSecondsToday: Math.round(stored + d.controller.unflushedUsage(name)),
      createdAt: app.createdAt,
    };
  };
  const requireApp = async (name: string): Promise<void> => {
    if (!d.controller.app(name) && !(await d.store.getApp(name))) throw new NotFoundError('app', name, 'see `summon apps`');
  };
  const streamed = async (reply: FastifyReply, run: (out: (l: string) => void) => Promise<Record<string, unknown>>) => {
    // Long operations stream NDJSON progress lines, then a final result frame.
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    const out = (line: string) => res.write(`${JSON.stringify({ line })}\n`);
    try {
      const result = await run(out);
      const failed = result.ok === false;
      const message = typeof result.message === 'string' ? result.message : `${reply.request.method} ${reply.request.url} failed`;
      const error = failed && typeof result.error === 'object' && result.error ? result.error : { code: 'deploy_failed', message };
      // Answered 200 either way: the audit log has whether it did what was asked.
      d.audit.note(reply.request.raw, { failed, detail: failed ? { message: message.slice(0, 500) } : {} });
      // A failure carries the one error shape: deploy_failed (the rollout it asked for did not
      // happen) unless the operation named its own.
      res.end(`${JSON.stringify({ done: true, ...result, ...(failed ? { message, error } : {}) })}\n`);
    } catch (e) {
      const err = toSummonError(e);
      d.audit.note(reply.request.raw, { failed: true, detail: { message: err.message.slice(0, 500) } });
      res.end(`${JSON.stringify({ done: true, ok: false, message: err.message, error: err.toJSON().error })}\n`);
    }
  };
  return {
    d, now, gate: { auth: d.auth, audit: d.audit, pushes: d.pushes }, view, requireApp, streamed,
    appParam: (req) => checkAppName(req.params.app),
    sse: (reply, start) => sseStream(reply, sseBounds, start, (drop) => {
      void d.events.emit(null, 'api.stream_dropped', `${reply.request.url}: ${drop.message}`, { path: reply.request.url.split('?')[0], reason: drop.reason, bufferedBytes: drop.bufferedBytes });
    }),
  };
}
