// The API's wire shapes, once: zod schemas with the types inferred from them. The server
// validates request bodies, parameters and queries against these and serializes its answers
// through them (api/contract.ts); the OpenAPI document (docs/openapi.json) is generated from
// them; the SDK's methods return the inferred types. The domain's own interfaces (core/types.ts,
// store/) are checked equal to these at compile time (sdk/types-equal.ts), so a field added on
// one side and not the other fails the build.
import { z } from 'zod';
import { ROLES, SCOPES } from '../core/access.js';
import { TARGETS } from '../core/manifest.js';
import { ARCHES } from '../core/arch.js';

const epochMs = z.number().describe('epoch milliseconds');
const named = <T extends z.ZodType>(id: string, s: T, description?: string): T => s.meta({ id, ...(description ? { description } : {}) });

// ---- errors
export const ERROR_CODES = [
  'invalid_input', 'invalid_name', 'invalid_manifest', 'unauthorized', 'forbidden', 'rate_limited', 'not_found',
  'conflict', 'build_failed', 'test_failed', 'deploy_failed', 'runtime_unavailable', 'capacity', 'timeout', 'internal',
] as const;
export const ErrorBody = named('Error', z.object({
  error: z.object({
    code: z.enum(ERROR_CODES).describe('stable: scripts match on it (README, "Exit codes" maps each to the CLI\'s exit code)'),
    message: z.string().describe('what went wrong and what to do next'),
    details: z.record(z.string(), z.unknown()).optional().describe('the fields the message names (field, value, rule, retryAfter...)'),
  }),
}), 'Every refusal and failure: one shape, a stable code, a message that says what to do next.');
export type ErrorBody = z.infer<typeof ErrorBody>;

export const Ok = named('Ok', z.object({ ok: z.literal(true) }));

// ---- apps
export const ScalePolicy = named('ScalePolicy', z.object({
  min: z.number().int(), max: z.number().int(),
  targetCpu: z.number().describe('fraction of a core per instance the autoscaler aims for'),
  idleTimeoutMs: z.number().describe('scale to zero after this long without a request (0: never)'),
}));
export type ScalePolicy = z.infer<typeof ScalePolicy>;

export const APP_STATES = ['no-release', 'idle', 'running', 'deploying', 'crashed', 'starting'] as const;
export const AppView = named('App', z.object({
  name: z.string(),
  url: z.string(),
  gitUrl: z.string(),
  state: z.enum(APP_STATES),
  liveVersion: z.number().int().nullable(),
  targetVersion: z.number().int().nullable(),
  desiredCount: z.number().int(),
  instances: z.object({ total: z.number().int(), healthy: z.number().int() }),
  scale: ScalePolicy,
  scalePolicySource: z.enum(['autoscale', 'manifest', 'default']),
  manualHoldUntil: epochMs.nullable().describe('after ps:scale on an app that autoscales: no scale-in before this'),
  usageSecondsToday: z.number(),
  createdAt: epochMs,
}));
export type AppView = z.infer<typeof AppView>;

// ---- releases
const Target = z.enum(TARGETS);
export const Manifest = named('Manifest', z.object({
  build: z.object({
    command: z.string().optional(), artifact: z.string(), test: z.string().optional(), timeoutMs: z.number(),
    toolchain: z.array(z.string()), memoryBytes: z.number().optional(),
  }),
  run: z.object({
    target: Target, args: z.array(z.string()), port: z.number().int(), memoryBytes: z.number(), initrd: z.string().optional(),
    cmdline: z.string().optional(), cpu: z.number().optional(), network: z.enum(['tap', 'user']).optional(),
    arch: z.enum(ARCHES).optional().describe('[run].arch, canonical'),
  }),
  health: z.object({
    kind: z.enum(['http', 'tcp']), path: z.string().optional(), intervalMs: z.number(), timeoutMs: z.number(),
    healthyThreshold: z.number().int(), unhealthyThreshold: z.number().int(), graceMs: z.number(),
  }),
  scale: z.object({
    min: z.number().int(), max: z.number().int(), targetCpu: z.number(), idleTimeoutMs: z.number(),
    regions: z.array(z.string()).optional().describe('[scale].regions: hosts whose region label is one of these'),
    hostLabels: z.record(z.string(), z.string()).optional().describe('[scale].host_labels: labels a host must carry'),
  }),
  deploy: z.object({ maxSurge: z.number().int(), maxUnavailable: z.number().int(), drainTimeoutMs: z.number() }),
  http: z.object({
    forceHttps: z.boolean().describe('[http].force_https: plain HTTP answered 308 to https://'),
    hstsMaxAge: z.number().int().nullable().describe('[http].hsts_max_age: Strict-Transport-Security max-age on HTTPS answers; null: none'),
  }).optional().describe('absent in releases stored before [http] existed: no redirect, no HSTS'),
  test: z.object({
    smoke: z.array(z.string()).describe('[test].smoke: run against a started instance of the release before it takes traffic'),
    timeoutMs: z.number().describe('[test].timeout: for the smoke commands together'),
  }).optional().describe('absent when summon.toml has no smoke commands'),
}), 'summon.toml as parsed, defaults filled in (docs/manifest.md)');

export const BuildManifest = named('BuildManifest', z.object({
  schema: z.literal('summon.build/v1'),
  app: z.string(), commit: z.string(), tree: z.string(), ref: z.string(), summonTomlSha256: z.string(),
  build: z.object({ command: z.string().nullable(), test: z.string().nullable(), timeoutMs: z.number() }),
  platform: z.object({ os: z.string(), arch: z.string(), kernel: z.string(), node: z.string(), summon: z.string() }),
  toolchain: z.array(z.object({ command: z.string(), output: z.string(), exitCode: z.number() })),
  lockfiles: z.array(z.object({ path: z.string(), sha256: z.string() })),
  artifact: z.object({
    path: z.string(), sha256: z.string(), size: z.number(), target: Target, initrdSha256: z.string().optional(),
    arch: z.enum(ARCHES).optional().describe('the architecture the instance needs: the artifact\'s own (detected), else [run].arch'),
    archFrom: z.string().optional().describe('how it was known: the header found, or "[run].arch"'),
  }),
  steps: z.array(z.object({ name: z.string(), startedAt: epochMs, durationMs: z.number(), exitCode: z.number().nullable() })),
  startedAt: epochMs,
  finishedAt: epochMs,
  origin: z.object({
    kind: z.literal('upload'), by: z.string().describe('the uploader: user email'), tokenId: z.string().nullable(),
    declared: z.record(z.string(), z.string()).describe('what the uploader said about it (commit, CI run…), not checked'),
  }).optional().describe('set when the artifact was built elsewhere and uploaded (summon deploy)'),
  smoke: z.object({
    result: z.enum(['passed', 'failed']),
    instance: z.string(), url: z.string().describe('$SUMMON_TEST_URL: the instance, which took no traffic'),
    startedAt: epochMs, durationMs: z.number(), timeoutMs: z.number(),
    steps: z.array(z.object({ command: z.string(), exitCode: z.number().nullable(), timedOut: z.boolean(), durationMs: z.number(), output: z.string().describe('its last 4 KiB') })),
    reason: z.string().nullable(),
  }).optional().describe('[test].smoke as run before the release took traffic'),
  promotedFrom: z.object({ app: z.string(), version: z.number().int(), pipeline: z.string(), by: z.string() })
    .optional().describe('set on a release promoted from an earlier stage of a pipeline: the same artifact'),
}), 'what exactly went into a release: enough to rebuild or audit it');

export const Verification = named('Verification', z.object({
  app: z.string(),
  version: z.number().int(),
  result: z.enum(['reproducible', 'differs']),
  differences: z.array(z.string()).describe('toolchain versions, lockfiles and inputs that moved, then the artifact bytes (size, first differing offset)'),
  rebuiltSha256: z.string().nullable().describe('null when the rebuild failed'),
  checkedAt: epochMs,
}), 'the release rebuilt from its manifest (summon releases:verify)');
export type Verification = z.infer<typeof Verification>;

export const RELEASE_STATUSES = ['building', 'testing', 'ready', 'deploying', 'live', 'superseded', 'failed'] as const;
export const ReleaseView = named('Release', z.object({
  app: z.string(),
  version: z.number().int(),
  status: z.enum(RELEASE_STATUSES),
  description: z.string(),
  reason: z.string().nullable(),
  commit: z.string().nullable(),
  artifactSha256: z.string().nullable(),
  initrdSha256: z.string().nullable(),
  manifest: Manifest.nullable(),
  buildManifest: BuildManifest.nullable(),
  brokenReason: z.string().nullable().describe('set when an instance was refused because the artifact is missing or altered'),
  brokenAt: epochMs.nullable(),
  createdAt: epochMs,
  updatedAt: epochMs,
  configKeys: z.array(z.string()).describe('the config vars of this release (names only)'),
  verification: Verification.nullable().describe('its last rebuild verification, if any'),
}));
export type ReleaseView = z.infer<typeof ReleaseView>;

// ---- builds
export const BuildSummary = named('BuildSummary', z.object({
  app: z.string(),
  version: z.number().int().describe('the release the build made'),
  source: z.enum(['push']),
  commit: z.string().nullable(),
  status: z.enum(['running', 'succeeded', 'failed']),
  reason: z.string().nullable().describe('why it failed'),
  startedAt: epochMs,
  finishedAt: epochMs.nullable(),
  durationMs: z.number().nullable(),
  logBytes: z.number().int().describe('bytes of output written, kept or not'),
  truncated: z.boolean().describe('past 1 MiB the middle of the log is cut out'),
}));
export type BuildSummary = z.infer<typeof BuildSummary>;
export const BuildView = named('Build', BuildSummary.extend({
  log: z.string().describe('what the pusher saw'),
  buildManifest: BuildManifest.nullable().describe('what went into the release, when the build got that far'),
}));
export type BuildView = z.infer<typeof BuildView>;

// ---- instances, logs, events, metrics
export const INSTANCE_STATES = ['pending', 'starting', 'healthy', 'unhealthy', 'draining', 'stopped', 'crashed'] as const;
export const Instance = named('Instance', z.object({
  id: z.string(), app: z.string(), version: z.number().int(), host: z.string(),
  state: z.enum(INSTANCE_STATES),
  address: z.string(), port: z.number().int().nullable(), pid: z.number().int().nullable(),
  startedAt: epochMs.nullable(), healthyAt: epochMs.nullable(), restarts: z.number().int(),
  reason: z.string().nullable(), nextRetryAt: epochMs.nullable(),
  cpu: z.number().nullable().describe('cores (1 = one core busy), last sample'),
  memoryBytes: z.number().nullable(),
  updatedAt: epochMs,
}));
export type Instance = z.infer<typeof Instance>;

export const LogLine = named('LogLine', z.object({
  seq: z.number().int(), at: epochMs, app: z.string(), source: z.enum(['app', 'summon']),
  proc: z.string().describe('instance id for app lines; a component (build, deploy, router, scale) for summon lines'),
  text: z.string(),
}));
export type LogLine = z.infer<typeof LogLine>;

export const SummonEvent = named('Event', z.object({
  id: z.number().int(), app: z.string().nullable(), type: z.string(), message: z.string(),
  data: z.record(z.string(), z.unknown()), at: epochMs,
}));
export type SummonEvent = z.infer<typeof SummonEvent>;

export const SeriesPoint = named('SeriesPoint', z.object({
  at: epochMs,
  instances: z.number().int().describe('healthy instances'),
  total: z.number().int(),
  cpu: z.number().nullable(),
  rps: z.number().nullable(),
  p95Ms: z.number().nullable(),
}));
export type SeriesPoint = z.infer<typeof SeriesPoint>;

// ---- usage and rightsizing
export const UsageDay = named('UsageDay', z.object({
  app: z.string(),
  day: z.string().describe('UTC day, YYYY-MM-DD'),
  instanceSeconds: z.number(),
  memoryMibSeconds: z.number().describe('each running instance\'s [run].memory reservation × its seconds, in MiB·s'),
  cost: z.number().nullable().describe('instanceSeconds × the price per instance-second; null without a price'),
}));
export type UsageDay = z.infer<typeof UsageDay>;
export const UsageView = named('Usage', z.object({
  from: z.string().describe('the first UTC day included'),
  to: z.string().describe('today (UTC); its row includes what is not flushed to the store yet'),
  pricePerInstanceSecond: z.number().nullable().describe('`summon up --price-per-instance-second`; null: not set'),
  days: z.array(UsageDay),
  totals: z.array(UsageDay.omit({ day: true })),
}));
export type UsageView = z.infer<typeof UsageView>;
export const AdviceItem = named('AdviceItem', z.object({
  key: z.enum(['run.memory', 'scale.min']),
  direction: z.enum(['down', 'up']),
  from: z.number().describe('bytes for run.memory'),
  to: z.number(),
  reason: z.string().describe('the figures, and what to set'),
}));
export const AdviceView = named('Advice', z.object({
  app: z.string(),
  observed: z.object({
    windowMs: z.number().describe('how long the observations cover: the last 24 h, or since Summon started'),
    samples: z.number().int().describe('one-second samples with a running instance'),
    memoryPeakBytes: z.number().nullable(),
    cpuAvg: z.number().nullable().describe('cores, per running instance'),
    cpuTotalPeak: z.number().nullable().describe('cores, all instances together'),
    instancesPeak: z.number().int(),
    oomKills: z.number().int(),
    lastRequestAt: epochMs.nullable(),
  }),
  current: z.object({ memoryBytes: z.number().nullable(), min: z.number().int(), max: z.number().int(), targetCpu: z.number() }),
  items: z.array(AdviceItem),
  note: z.string().nullable().describe('why there is no advice, or null'),
}));
export type AdviceView = z.infer<typeof AdviceView>;

// ---- hosts
export const RuntimeCapability = named('RuntimeCapability', z.object({
  target: Target, available: z.boolean(), accel: z.enum(['kvm', 'tcg']).optional(), kvm: z.boolean().optional(),
  arches: z.array(z.object({ arch: z.enum(ARCHES), native: z.boolean() })).optional()
    .describe('the architectures it runs: native (KVM, or a process on the host\'s own CPU) or emulated (TCG)'),
  reason: z.string(),
}));
export const HostView = named('Host', z.object({
  id: z.string(),
  address: z.string(),
  link: z.enum(['local', 'connected', 'unreachable']).describe('local: the agent in the Summon process; otherwise a remote agent\'s link'),
  url: z.string().optional(),
  since: epochMs,
  error: z.string().optional(),
  runtimes: z.array(RuntimeCapability),
  instances: z.number().int(),
  dataPlane: z.string().optional().describe('the local host\'s data plane: "haproxy 2.6.12" or "node" (`summon up --data-plane`)'),
  joined: z.boolean().optional().describe('the host joined by dialing out (summon agent --join): summon hosts:remove revokes it'),
  labels: z.record(z.string(), z.string()).optional().describe('region, arch, anything given at join'),
  draining: z.boolean().optional().describe('summon hosts:drain: no new instance goes there'),
  memoryBytes: z.number().nullable().optional().describe('memory the host offers instances'),
  reservedMemoryBytes: z.number().optional().describe('what the instances placed there reserve ([run].memory each)'),
}));
export type HostView = z.infer<typeof HostView>;
export const ClusterNodeView = named('ClusterNode', z.object({
  id: z.string(),
  api: z.string(),
  router: z.string(),
  version: z.string(),
  startedAt: epochMs,
  seenAt: epochMs,
  up: z.boolean().describe('seen within the last few heartbeats'),
  leader: z.boolean(),
}));
export const ClusterView = named('Cluster', z.object({
  store: z.string().describe('sqlite (one machine) or postgres, with the database host and name (never the password)'),
  node: z.string().describe('the node that answered'),
  leader: z.object({ node: z.string(), epoch: z.number().int(), since: epochMs }).nullable().describe('null during a failover, or with SQLite (the one node reconciles)'),
  lease: z.object({ ttlMs: z.number().int(), renewMs: z.number().int() }).nullable(),
  nodes: z.array(ClusterNodeView),
}));
export type ClusterView = z.infer<typeof ClusterView>;
export const JoinTokenBody = named('JoinTokenBody', z.strictObject({
  expires: z.string().optional().describe('"1h" (the default) up to "30d"'),
  labels: z.record(z.string(), z.string()).optional().describe('given to the host that joins with it'),
  url: z.string().optional().describe('the control plane URL the host dials (default: the one this request came to)'),
}));
export const CreatedJoinToken = named('CreatedJoinToken', z.object({
  id: z.string(), token: z.string().describe('shown in this answer only'), command: z.string().describe('the join command to run on the new host'),
  url: z.string(), fingerprint: z.string(), labels: z.record(z.string(), z.string()), expiresAt: epochMs,
}));
export type CreatedJoinToken = z.infer<typeof CreatedJoinToken>;
export const RemovedHost = named('RemovedHost', z.object({ host: z.string(), removed: z.boolean() }));
export const HostCredential = named('HostCredential', z.object({ host: z.string(), credential: z.string() }));

// ---- webhooks and drains
export const WebhookView = named('WebhookView', z.object({
  id: z.string(), app: z.string(), url: z.string(), events: z.array(z.string()), createdAt: epochMs,
}));
export type WebhookView = z.infer<typeof WebhookView>;
export const Webhook = named('Webhook', WebhookView.extend({ secret: z.string().describe('signing secret: shown in this answer only') }));
export type Webhook = z.infer<typeof Webhook>;
export const WebhookDelivery = named('WebhookDelivery', z.object({
  id: z.string(), webhookId: z.string(), app: z.string(), event: z.string(), attempt: z.number().int(),
  status: z.number().int().nullable(), ok: z.boolean(), error: z.string().nullable(), at: epochMs,
}));
export type WebhookDelivery = z.infer<typeof WebhookDelivery>;

export const DrainStatus = named('DrainStatus', z.object({
  state: z.enum(['starting', 'up', 'down']), since: epochMs, lastError: z.string().nullable(),
  buffered: z.number().int(), bufferedBytes: z.number().int(), delivered: z.number().int(), dropped: z.number().int(),
}));
export type DrainStatus = z.infer<typeof DrainStatus>;
export const DrainView = named('Drain', z.object({
  id: z.string(), app: z.string(), url: z.string(), createdAt: epochMs,
  status: DrainStatus.nullable().describe('null where this node does not deliver it'),
}));
export type DrainView = z.infer<typeof DrainView>;

// ---- custom domains and certificates
export const DomainView = named('Domain', z.object({
  host: z.string().describe('lower case; *.example.com is a wildcard over one label'),
  app: z.string(), createdAt: epochMs,
  certificate: z.string().nullable().describe('the id of the certificate that serves it (the one that expires last), null: none'),
}));
export type DomainView = z.infer<typeof DomainView>;
export const CertView = named('Certificate', z.object({
  id: z.string().describe('sha256 of the leaf certificate (DER), hex'),
  app: z.string(),
  hosts: z.array(z.string()).describe('the DNS names (subjectAltName) it names'),
  domains: z.array(z.string()).describe("the app's domains it covers"),
  issuer: z.string(), subject: z.string(), notBefore: epochMs, notAfter: epochMs,
  source: z.enum(['upload', 'acme']), createdAt: epochMs,
}));
export type CertView = z.infer<typeof CertView>;

// ---- users, access, tokens, audit
const Role = z.enum(ROLES);
const Scope = z.enum(SCOPES);
export const UserView = named('User', z.object({
  id: z.string(), email: z.string(), role: Role, createdAt: epochMs, apps: z.array(z.string()),
}));
export type UserView = z.infer<typeof UserView>;
export const RemovedUser = named('RemovedUser', z.object({ ok: z.literal(true), email: z.string() }));
export const AccessView = named('Access', z.object({
  email: z.string(), role: Role, via: z.enum(['grant', 'admin']), createdAt: epochMs,
}));
export type AccessView = z.infer<typeof AccessView>;
export const TokenView = named('Token', z.object({
  id: z.string(), userId: z.string(), name: z.string(), scope: Scope, app: z.string().nullable(),
  prefix: z.string(), createdAt: epochMs, createdBy: z.string(), expiresAt: epochMs.nullable(),
  revokedAt: epochMs.nullable(), lastUsedAt: epochMs.nullable(),
  user: z.string(), state: z.enum(['active', 'expired', 'revoked']),
}));
export type TokenView = z.infer<typeof TokenView>;
export const CreatedToken = named('CreatedToken', TokenView.extend({ token: z.string().describe('the token itself: shown this once, only its hash is kept') }));
export type CreatedToken = z.infer<typeof CreatedToken>;
export const WhoAmI = named('WhoAmI', z.object({
  user: z.object({ id: z.string(), email: z.string(), role: Role }),
  token: z.object({ id: z.string(), name: z.string(), scope: Scope, app: z.string().nullable(), expiresAt: epochMs.nullable() }),
  apps: z.union([z.array(z.string()), z.literal('all')]),
}));
export type WhoAmI = z.infer<typeof WhoAmI>;
export const AuditEntry = named('AuditEntry', z.object({
  id: z.number().int(), at: epochMs, actor: z.string(), tokenId: z.string().nullable(), tokenName: z.string().nullable(),
  address: z.string().nullable(), method: z.string().nullable(), route: z.string().nullable(), app: z.string().nullable(),
  action: z.string(), outcome: z.enum(['ok', 'denied', 'failed']), status: z.number().int().nullable(),
  detail: z.record(z.string(), z.unknown()),
}));
export type AuditEntry = z.infer<typeof AuditEntry>;

// ---- streamed answers (NDJSON): progress lines, then one result frame
export const ProgressFrame = named('ProgressFrame', z.object({ line: z.string() }));
export const ResultFrame = named('ResultFrame', z.looseObject({
  done: z.literal(true),
  ok: z.boolean(),
  message: z.string().optional(),
  error: ErrorBody.shape.error.optional().describe('on failure: the same shape as every other error'),
}), 'the last frame: ok, and on failure the error; other fields depend on the operation (version, release, keys)');

// ---- request bodies: a value of the wrong type is refused naming the field, never coerced
// (regression: {"name":["hello"]} was read as "hello", {"count":[3]} as 3). Unknown fields are
// refused too, so a typo is not ignored.
export const CreateAppBody = named('CreateAppBody', z.strictObject({ name: z.string() }));
export const RollbackBody = named('RollbackBody', z.strictObject({
  version: z.union([z.number().int().min(1), z.string().regex(/^v?[1-9]\d*$/, 'write the version as vN or N'), z.null()]).optional()
    .describe('the release to go back to; absent or null: the one before the live release'),
}));
export const ConfigBody = named('ConfigBody', z.strictObject({
  set: z.record(z.string(), z.string({ error: 'config values must be strings' })).optional(),
  unset: z.array(z.string()).optional(),
}));
export const ScaleBody = named('ScaleBody', z.strictObject({ count: z.number().int().min(0).max(1000) }));
export const AutoscaleBody = named('AutoscaleBody', z.strictObject({
  min: z.number().int().min(0).max(1000).optional(),
  max: z.number().int().min(1).max(1000).optional(),
  targetCpu: z.number().min(0.01).max(100).optional().describe('a fraction (0.8) or a percentage (80)'),
  idleTimeout: z.union([z.string(), z.number().min(0)]).optional().describe('a duration ("30s") or milliseconds'),
}));
export const EmptyBody = z.strictObject({});

export const AcmeStatus = named('AcmeStatus', z.object({
  app: z.string(),
  enabled: z.boolean().describe('certs:auto is on'),
  directoryUrl: z.string().describe('the ACME directory (summon up --acme-directory)'),
  domains: z.array(z.string()).describe("the app's custom domains, what a certificate is asked for"),
  cert: z.object({ id: z.string(), notAfter: epochMs, renewAt: epochMs }).nullable().describe('the ACME certificate that serves every domain, if one does'),
  nextOrderAt: epochMs.nullable().describe('when the next order is due; null when off or without domains'),
  failures: z.number().int().describe('failed orders in a row'),
  lastError: z.string().nullable(),
}));
export type AcmeStatus = z.infer<typeof AcmeStatus>;
export const WebhookBody = named('WebhookBody', z.strictObject({
  url: z.string({ error: 'a webhook needs a URL, e.g. https://hooks.example.com/summon' }).describe('http:// or https://'),
  events: z.union([z.array(z.string()), z.string()]).optional().describe('event types (release.live, release.*, *); default: releases and crashes'),
}));
export const DeployBody = named('DeployBody', z.strictObject({
  manifest: z.string().max(64 * 1024, { error: 'summon.toml is at most 64K' }).describe('summon.toml, as text'),
  artifact: z.string().regex(/^[0-9a-f]{64}$/, 'the artifact is named by its sha256 (64 hex digits), as uploaded'),
  initrd: z.string().regex(/^[0-9a-f]{64}$/, 'the initrd is named by its sha256 (64 hex digits), as uploaded').optional(),
  declared: z.record(z.string().regex(/^[a-z][a-z0-9_.-]{0,31}$/, 'declared keys are like commit or ci.run'), z.string().max(1024)).optional()
    .describe('what the uploader says about the build (commit, CI run, builder), recorded as said'),
}));
export const Uploaded = named('Uploaded', z.object({ sha256: z.string(), size: z.number().int() }));
export const DrainBody = named('DrainBody', z.strictObject({ url: z.string({ error: 'a drain needs a URL, e.g. syslog+tls://logs.example.com:6514 or https://logs.example.com/ingest' }).describe('syslog+tls://HOST:PORT, syslog://HOST:PORT or https://HOST/PATH') }));
export const DomainBody = named('DomainBody', z.strictObject({ host: z.string({ error: 'a domain needs a host, e.g. www.example.com' }).describe('www.example.com or *.example.com') }));
export const CertBody = named('CertBody', z.strictObject({
  cert: z.string({ error: 'give the certificate (PEM, the leaf and its chain)' }).describe('PEM: the leaf and its chain, in any order'),
  key: z.string({ error: 'give the private key (PEM)' }).describe('PEM, unencrypted: stored encrypted'),
}));
export const UserBody = named('UserBody', z.strictObject({ email: z.string(), role: Role.optional() }));
export const AccessBody = named('AccessBody', z.strictObject({ email: z.string() }));
export const TokenBody = named('TokenBody', z.strictObject({
  scope: Scope,
  app: z.union([z.string(), z.null()]).optional(),
  expires: z.string().optional().describe('"90d", "12h", "never" (the default)'),
  name: z.string().optional(),
  user: z.string().optional().describe('the user\'s email (default: the caller)'),
}));

// ---- parameters and queries
export const AppParams = z.object({ app: z.string().describe('app name') });
export const ReleaseParams = AppParams.extend({ version: z.string().describe('vN or N') });
export const AppIdParams = AppParams.extend({ id: z.string() });
export const AppEmailParams = AppParams.extend({ email: z.string() });
export const AppHostParams = AppParams.extend({ host: z.string() });
export const EmailParams = z.object({ email: z.string() });
export const IdParams = z.object({ id: z.string() });
export const HostParams = z.object({ host: z.string() });
const count = (max: number) => z.coerce.number({ error: `must be a whole number from 1 to ${max}` }).int({ error: `must be a whole number from 1 to ${max}` })
  .min(1, { error: `must be a whole number from 1 to ${max}` }).max(max, { error: `must be a whole number from 1 to ${max}` });
export const LogQuery = z.object({
  since: z.string().optional().describe('a duration back from now: "10m", "2h"'),
  instance: z.string().optional(),
  source: z.enum(['app', 'summon']).optional(),
  limit: count(10_000).optional(),
});
export const EventQuery = z.object({ limit: count(10_000).optional(), after: z.coerce.number().int().optional().describe('only events after this id') });
export const LimitQuery = z.object({ limit: count(10_000).optional() });
export const UploadParams = AppParams.extend({ sha256: z.string().regex(/^[0-9a-f]{64}$/, 'upload to /uploads/SHA256: the sha256 of the file, 64 hex digits') });
export const BuildParams = AppParams.extend({ version: z.string().describe('the release it made: vN or N') });
export const StreamQuery = z.object({ app: z.string().optional().describe('only this app\'s events') });
export const TokenQuery = z.object({ user: z.string().optional().describe('a user\'s email') });
export const AuditQuery = z.object({ app: z.string().optional(), limit: count(10_000).optional(), after: z.coerce.number().int().optional() });
export const DeliveryQuery = z.object({ limit: count(1000).optional() });
export const UsageQuery = z.object({
  app: z.string().optional().describe('one app (default: every app the caller reaches)'),
  since: z.string().optional().describe('back from now: "90m", "12h", "30d" (1m to 3650d; default 30d)'),
});
export const ImageQuery = z.object({ format: z.enum(['raw', 'gce'], { error: 'format must be raw (a bootable disk) or gce (a tar.gz for Google Compute Engine)' }).optional().describe('raw: a bootable disk; gce: a tar.gz for Google Compute Engine') });
