// Converts between domain objects and rows. Kept apart from the queries so both
// dialects share one definition of how each field is stored.
import type { App, BuildManifest, Host, Instance, Manifest, Release, ReleaseStatus, InstanceState, SummonEvent } from '../core/types.js';
import type { BuildRecord, Drain, JoinedHost, Webhook, WebhookDelivery } from './store.js';
import type { AppsTable, BuildsTable, DrainsTable, HostsTable, InstancesTable, ReleasesTable, WebhookDeliveriesTable, WebhooksTable } from './schema.js';

type Big = number | string;

export function num(v: Big): number {
  return typeof v === 'number' ? v : Number(v);
}

export function numOrNull(v: Big | null): number | null {
  return v === null ? null : num(v);
}

export function toJson(v: unknown): string {
  return JSON.stringify(v);
}

export function jsonOrNull(v: unknown): string | null {
  return v === null || v === undefined ? null : JSON.stringify(v);
}

export function parseJson<T>(v: string): T {
  return JSON.parse(v) as T;
}

export function parseJsonOrNull<T>(v: string | null): T | null {
  return v === null ? null : (JSON.parse(v) as T);
}

export function appFromRow(r: AppsTable): App {
  return {
    name: r.name,
    createdAt: num(r.created_at),
    desiredCount: r.desired_count,
    scalePolicy: parseJsonOrNull(r.scale_policy),
    liveVersion: r.live_version,
    targetVersion: r.target_version,
  };
}

export function releaseFromRow(r: ReleasesTable): Release {
  return {
    app: r.app,
    version: r.version,
    status: r.status as ReleaseStatus,
    description: r.description,
    reason: r.reason,
    commit: r.commit_sha,
    artifactSha256: r.artifact_sha256,
    initrdSha256: r.initrd_sha256,
    manifest: parseJsonOrNull<Manifest>(r.manifest),
    buildManifest: parseJsonOrNull<BuildManifest>(r.build_manifest),
    configCipher: r.config_cipher,
    brokenReason: r.broken_reason ?? null,
    brokenAt: r.broken_at == null ? null : num(r.broken_at),
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
  };
}

/** Columns for the fields a release patch may carry (undefined fields are left out). */
export function releasePatchColumns(p: Partial<Release>): Partial<ReleasesTable> {
  const c: Partial<ReleasesTable> = {};
  if (p.status !== undefined) c.status = p.status;
  if (p.description !== undefined) c.description = p.description;
  if (p.reason !== undefined) c.reason = p.reason;
  if (p.commit !== undefined) c.commit_sha = p.commit;
  if (p.artifactSha256 !== undefined) c.artifact_sha256 = p.artifactSha256;
  if (p.initrdSha256 !== undefined) c.initrd_sha256 = p.initrdSha256;
  if (p.manifest !== undefined) c.manifest = jsonOrNull(p.manifest);
  if (p.buildManifest !== undefined) c.build_manifest = jsonOrNull(p.buildManifest);
  if (p.configCipher !== undefined) c.config_cipher = p.configCipher;
  if (p.brokenReason !== undefined) c.broken_reason = p.brokenReason;
  if (p.brokenAt !== undefined) c.broken_at = p.brokenAt;
  return c;
}

export function instanceToRow(i: Instance): InstancesTable {
  return {
    id: i.id,
    app: i.app,
    version: i.version,
    host: i.host,
    state: i.state,
    address: i.address,
    port: i.port,
    pid: i.pid,
    started_at: i.startedAt,
    healthy_at: i.healthyAt,
    restarts: i.restarts,
    reason: i.reason,
    next_retry_at: i.nextRetryAt,
    cpu: i.cpu,
    memory_bytes: i.memoryBytes,
    updated_at: i.updatedAt,
  };
}

export function instanceFromRow(r: InstancesTable): Instance {
  return {
    id: r.id,
    app: r.app,
    version: r.version,
    host: r.host,
    state: r.state as InstanceState,
    address: r.address,
    port: r.port,
    pid: r.pid,
    startedAt: numOrNull(r.started_at),
    healthyAt: numOrNull(r.healthy_at),
    restarts: r.restarts,
    reason: r.reason,
    nextRetryAt: numOrNull(r.next_retry_at),
    cpu: r.cpu === null ? null : Number(r.cpu),
    memoryBytes: numOrNull(r.memory_bytes),
    updatedAt: num(r.updated_at),
  };
}

export function eventFromRow(r: { id: Big; app: string | null; type: string; message: string; data: string; at: Big }): SummonEvent {
  return {
    id: num(r.id),
    app: r.app,
    type: r.type,
    message: r.message,
    data: parseJson<Record<string, unknown>>(r.data),
    at: num(r.at),
  };
}

export function hostFromRow(r: Pick<HostsTable, 'id' | 'address' | 'runtimes' | 'last_seen_at'>): Host {
  return { id: r.id, address: r.address, runtimes: parseJson(r.runtimes), lastSeenAt: num(r.last_seen_at) };
}

export function joinedHostFromRow(r: Omit<HostsTable, 'labels' | 'state'> & { labels: string; state: string }): JoinedHost {
  return {
    id: r.id, address: r.address, labels: parseJson<Record<string, string>>(r.labels), state: r.state === 'draining' ? 'draining' : 'active',
    memoryBytes: numOrNull(r.memory_bytes), cpus: r.cpus, arch: r.arch, runtimes: parseJson(r.runtimes),
    joinedAt: numOrNull(r.joined_at) ?? num(r.last_seen_at), lastSeenAt: num(r.last_seen_at),
  };
}

export function webhookFromRow(r: WebhooksTable): Webhook {
  return {
    id: r.id,
    app: r.app,
    url: r.url,
    events: parseJson<string[]>(r.events),
    secret: r.secret,
    createdAt: num(r.created_at),
  };
}

export function deliveryFromRow(r: Omit<WebhookDeliveriesTable, 'seq'>): WebhookDelivery {
  return {
    id: r.id,
    webhookId: r.webhook_id,
    app: r.app,
    event: r.event,
    attempt: r.attempt,
    status: r.status,
    ok: r.ok === true || r.ok === 1,
    error: r.error,
    at: num(r.at),
  };
}

export function buildFromRow(r: BuildsTable): BuildRecord {
  const startedAt = num(r.started_at);
  const finishedAt = r.finished_at === null ? null : num(r.finished_at);
  return {
    app: r.app, version: r.version, source: r.source as BuildRecord['source'], commit: r.commit_sha,
    status: r.status as BuildRecord['status'], reason: r.reason, startedAt, finishedAt,
    durationMs: finishedAt === null ? null : finishedAt - startedAt,
    log: r.log, logBytes: num(r.log_bytes), truncated: r.truncated === true || r.truncated === 1,
  };
}

export function drainFromRow(r: DrainsTable): Drain {
  return { id: r.id, app: r.app, url: r.url, createdAt: num(r.created_at) };
}
