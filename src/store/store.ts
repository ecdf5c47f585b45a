// The one Store interface. SQLite (embedded default) and PostgreSQL implement it and
// both pass store.contract.ts. Methods that change state are atomic on their own.
import type { App, Host, Instance, Release, RuntimeCapability, SummonEvent } from '../core/types.js';
import type { AccessGrant, ApiToken, AuditEntry, NewAuditEntry, User } from './access-types.js';

export type { AccessGrant, ApiToken, AuditEntry, NewAuditEntry, User } from './access-types.js';
export type { Domain, StoredCert } from './domain-types.js';
import type { Domain, StoredCert } from './domain-types.js';
export type { Pipeline, PipelineStage } from './pipeline-types.js';
import type { Pipeline } from './pipeline-types.js';

export type AppPatch = Partial<Pick<App, 'desiredCount' | 'scalePolicy' | 'liveVersion' | 'targetVersion'>>;
/** A host that joined by dialing out (`summon agent --join`). */
export interface JoinedHost {
  id: string;
  address: string;
  labels: Record<string, string>;
  /** draining: `summon hosts:drain`, no new instance goes there. */
  state: 'active' | 'draining';
  memoryBytes: number | null;
  cpus: number | null;
  arch: string | null;
  runtimes: RuntimeCapability[];
  joinedAt: number;
  lastSeenAt: number;
}

export type NewJoinedHost = Omit<JoinedHost, 'joinedAt' | 'lastSeenAt' | 'state'> & { credentialHash: string };

/** A join token as listed (never its secret). Single use, and expiring. */
export interface JoinToken {
  id: string;
  /** jt_ and its first characters, to recognise it. */
  prefix: string;
  labels: Record<string, string>;
  createdBy: string | null;
  createdAt: number;
  expiresAt: number;
  usedAt: number | null;
  usedBy: string | null;
}

export type NewRelease = Omit<Release, 'app' | 'version' | 'createdAt' | 'updatedAt' | 'brokenReason' | 'brokenAt'>;
export type ReleasePatch = Partial<Omit<Release, 'app' | 'version' | 'createdAt'>>;
export type NewEvent = Omit<SummonEvent, 'id'>;

export interface Webhook {
  id: string;
  app: string;
  url: string;
  events: string[];
  secret: string;
  createdAt: number;
}

export interface WebhookDelivery {
  id: string;
  webhookId: string;
  app: string;
  event: string;
  attempt: number;
  status: number | null;
  ok: boolean;
  error: string | null;
  at: number;
}

/** A log drain: the app's log lines sent on to a syslog or HTTPS receiver (src/drains/). */
export interface Drain {
  id: string;
  app: string;
  /** syslog://HOST:PORT, syslog+tls://HOST:PORT or https://HOST[:PORT]/PATH, as checked at creation. */
  url: string;
  createdAt: number;
}

/** One point of an app's dashboard chart (api/series.ts). */
export interface SeriesRow {
  app: string;
  /** Sample time, epoch ms; one point per app and time. */
  at: number;
  instances: number;
  total: number;
  cpu: number | null;
  rps: number | null;
  p95Ms: number | null;
}

/** One build of a push (build, test, store, roll out), kept with its log: `summon builds`. */
export interface BuildRecord {
  app: string;
  /** The release the build made (failed or not). */
  version: number;
  source: 'push';
  commit: string | null;
  status: 'running' | 'succeeded' | 'failed';
  /** Why it failed. */
  reason: string | null;
  startedAt: number;
  finishedAt: number | null;
  durationMs: number | null;
  /** The output the pusher saw, up to MAX_BUILD_LOG_BYTES (the middle cut out past it). */
  log: string;
  /** Bytes of output the build wrote, kept or not. */
  logBytes: number;
  truncated: boolean;
}
export type BuildSummary = Omit<BuildRecord, 'log'>;

/** A release rebuilt from its manifest (`summon releases:verify`): the same artifact bytes or not. */
export interface Verification {
  app: string;
  version: number;
  result: 'reproducible' | 'differs';
  /** What differed: toolchain versions, lockfiles, inputs, then the bytes (size, first differing offset). */
  differences: string[];
  /** The rebuilt artifact's sha256 (null when the rebuild failed). */
  rebuiltSha256: string | null;
  checkedAt: number;
}

export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  /** Creates or upgrades the schema. Safe to call on every start. */
  migrate(): Promise<void>;
  close(): Promise<void>;

  getSetting(key: string): Promise<string | undefined>;
  setSetting(key: string, value: string): Promise<void>;

  /** Throws ConflictError if the app exists. */
  createApp(name: string, now: number): Promise<App>;
  getApp(name: string): Promise<App | undefined>;
  listApps(): Promise<App[]>;
  /** Throws NotFoundError if the app does not exist. */
  updateApp(name: string, patch: AppPatch): Promise<App>;
  /** Removes the app and everything that belongs to it (releases, instances, config, events, webhooks, drains, usage). */
  deleteApp(name: string): Promise<void>;

  /** Current config vars of the app, encrypted (null when never set). */
  getConfig(app: string): Promise<string | null>;
  setConfig(app: string, cipher: string): Promise<void>;

  /** Allocates version = highest + 1 atomically. */
  createRelease(app: string, init: NewRelease, now: number): Promise<Release>;
  updateRelease(app: string, version: number, patch: ReleasePatch, now: number): Promise<Release>;
  getRelease(app: string, version: number): Promise<Release | undefined>;
  /** Newest first. */
  listReleases(app: string): Promise<Release[]>;

  putInstance(instance: Instance): Promise<void>;
  deleteInstance(id: string): Promise<void>;
  listInstances(filter?: { app?: string; host?: string }): Promise<Instance[]>;

  appendEvent(event: NewEvent): Promise<SummonEvent>;
  /** Oldest first; `afterId` for paging forward, `limit` keeps the newest `limit`. */
  listEvents(filter: { app?: string; afterId?: number; limit?: number; types?: string[] }): Promise<SummonEvent[]>;

  putHost(host: Host): Promise<void>;
  listHosts(): Promise<Host[]>;

  /** Join tokens (`summon hosts:join-token`), kept by their sha256. */
  createJoinToken(token: JoinToken & { hash: string }): Promise<void>;
  listJoinTokens(): Promise<JoinToken[]>;
  /** Uses the join token of sha256 `hash` (once: a second use, or one past its expiry, is
   *  refused with why) and records the host that joined with it, with the sha256 of its own
   *  credential, in one transaction. A host id already joined is refused. */
  redeemJoinToken(hash: string, host: NewJoinedHost, now: number): Promise<JoinedHost>;
  /** Hosts that joined (dialing out), with their labels, capacity and state. */
  listJoinedHosts(): Promise<JoinedHost[]>;
  /** The sha256 of a joined host's credential, or null (no such host, or removed). */
  joinedHostCredential(id: string): Promise<string | null>;
  updateJoinedHost(id: string, patch: Partial<Pick<JoinedHost, 'state' | 'address' | 'runtimes' | 'lastSeenAt' | 'memoryBytes' | 'cpus' | 'arch'>>): Promise<JoinedHost>;
  /** Removes a joined host and with it its credential; false when there was none. */
  removeJoinedHost(id: string): Promise<boolean>;

  /** Adds metered seconds to the app's row for `day` (YYYY-MM-DD, UTC): instance-seconds, and
   *  memory-seconds in MiB·s (each instance's [run].memory reservation × its seconds). */
  addUsage(app: string, day: string, instanceSeconds: number, memoryMibSeconds?: number): Promise<void>;
  /** Instance-seconds of the app on `day`. */
  getUsage(app: string, day: string): Promise<number>;
  /** Rows from `fromDay` on (inclusive), of one app or all, ordered by app then day. */
  listUsage(filter: { fromDay: string; app?: string }): Promise<UsageRow[]>;

  /** Appends chart points; a point whose (app, at) is stored already is left as it was. */
  addSeriesPoints(points: SeriesRow[]): Promise<void>;
  /** Points at or after `since` (epoch ms), by app, oldest first. */
  listSeriesPoints(since: number): Promise<SeriesRow[]>;
  /** Removes the points older than `before`; how many went. */
  pruneSeriesPoints(before: number): Promise<number>;

  addWebhook(hook: Webhook): Promise<void>;
  listWebhooks(app: string): Promise<Webhook[]>;
  deleteWebhook(app: string, id: string): Promise<void>;
  addDelivery(delivery: WebhookDelivery): Promise<void>;
  listDeliveries(app: string, limit?: number): Promise<WebhookDelivery[]>;

  /** Throws NotFoundError if the app does not exist, ConflictError if it has a drain with this URL. */
  addDrain(drain: Drain): Promise<void>;
  /** Oldest first. */
  listDrains(app: string): Promise<Drain[]>;
  deleteDrain(app: string, id: string): Promise<void>;

  /** Inserts or replaces the build of (app, version). */
  saveBuild(build: BuildRecord): Promise<void>;
  /** Newest first, without their logs. */
  listBuilds(app: string, limit: number): Promise<BuildSummary[]>;
  getBuild(app: string, version: number): Promise<BuildRecord | undefined>;
  /** Replaces the release's last verification. */
  saveVerification(v: Verification): Promise<void>;
  /** The app's verifications by version (null for none). */
  listVerifications(app: string): Promise<Verification[]>;

  // ---- custom domains and certificates (domain-types.ts)

  /** Throws NotFoundError if the app does not exist, ConflictError (details.owner) if any app owns the host. */
  addDomain(domain: Domain): Promise<void>;
  getDomain(host: string): Promise<Domain | undefined>;
  /** Of one app, or of all; by app, then host. */
  listDomains(app?: string): Promise<Domain[]>;
  /** Whether the app had the domain. */
  deleteDomain(app: string, host: string): Promise<boolean>;
  /** Inserts or replaces (app, id). Throws NotFoundError if the app does not exist. */
  putCert(cert: StoredCert): Promise<void>;
  /** Of one app, or of all; by app, then oldest first. */
  listCerts(app?: string): Promise<StoredCert[]>;
  deleteCert(app: string, id: string): Promise<boolean>;

  // ---- pipelines (pipeline-types.ts)

  /** Throws NotFoundError if an app does not exist, ConflictError if the name is taken or an
   *  app is in a pipeline already. */
  createPipeline(p: Pipeline): Promise<void>;
  /** By name, stages in order. */
  listPipelines(): Promise<Pipeline[]>;
  /** The pipeline the app is a stage of. */
  pipelineOf(app: string): Promise<Pipeline | undefined>;
  deletePipeline(name: string): Promise<boolean>;

  // ---- users, per-app access, tokens, audit (access-types.ts)

  /** Throws ConflictError if a user has this email. */
  addUser(user: User): Promise<void>;
  getUser(email: string): Promise<User | undefined>;
  /** Oldest first. */
  listUsers(): Promise<User[]>;
  /** Removes the user, their tokens and their access grants. */
  deleteUser(id: string): Promise<void>;

  /** Throws NotFoundError if the app or user does not exist, ConflictError if the grant exists. */
  grantAccess(app: string, userId: string, now: number): Promise<void>;
  /** Whether a grant was removed. */
  revokeAccess(app: string, userId: string): Promise<boolean>;
  /** Grants of one app or of one user, oldest first. */
  listAccess(filter: { app?: string; userId?: string }): Promise<AccessGrant[]>;

  /** Throws ConflictError if the id or hash is taken. */
  addToken(token: ApiToken): Promise<void>;
  /** The token whose sha256 (hex) is `hash`, with its user, revoked and expired ones too. */
  findTokenByHash(hash: string): Promise<{ token: ApiToken; user: User } | undefined>;
  getToken(id: string): Promise<ApiToken | undefined>;
  /** Oldest first; `userId` for one user's. */
  listTokens(filter?: { userId?: string }): Promise<ApiToken[]>;
  /** Sets revokedAt (once: an already revoked token keeps its time). Throws NotFoundError. */
  revokeToken(id: string, now: number): Promise<ApiToken>;
  touchToken(id: string, now: number): Promise<void>;

  appendAudit(entry: NewAuditEntry): Promise<AuditEntry>;
  /** Oldest first; `afterId` pages forward, `limit` keeps the newest N. Outlives the app. */
  listAudit(filter: { app?: string; afterId?: number; limit?: number }): Promise<AuditEntry[]>;
}

/** One (app, day) of metering: see Store.addUsage. */
export interface UsageRow {
  app: string;
  day: string;
  instanceSeconds: number;
  memoryMibSeconds: number;
}
