// Row shapes as the database holds them. pg returns bigint columns (and bigserial ids)
// as strings, SQLite as numbers: the mappers in rows.ts turn both into JS numbers.
import type { Generated } from 'kysely';

type Big = number | string;

export interface SettingsTable {
  key: string;
  value: string;
}

export interface AppsTable {
  name: string;
  created_at: Big;
  desired_count: number;
  scale_policy: string | null;
  live_version: number | null;
  target_version: number | null;
}

export interface ReleasesTable {
  app: string;
  version: number;
  status: string;
  description: string;
  reason: string | null;
  commit_sha: string | null;
  artifact_sha256: string | null;
  initrd_sha256: string | null;
  manifest: string | null;
  build_manifest: string | null;
  config_cipher: string | null;
  /** 0004-release-broken. */
  broken_reason: string | null;
  broken_at: Big | null;
  created_at: Big;
  updated_at: Big;
}

export interface AppConfigTable {
  app: string;
  cipher: string;
}

export interface InstancesTable {
  id: string;
  app: string;
  version: number;
  host: string;
  state: string;
  address: string;
  port: number | null;
  pid: number | null;
  started_at: Big | null;
  healthy_at: Big | null;
  restarts: number;
  reason: string | null;
  next_retry_at: Big | null;
  cpu: number | null;
  memory_bytes: Big | null;
  updated_at: Big;
}

export interface EventsTable {
  id: Generated<Big>;
  app: string | null;
  type: string;
  message: string;
  data: string;
  at: Big;
}

export interface HostsTable {
  id: string;
  address: string;
  runtimes: string;
  last_seen_at: Big;
  /** 0010-joined-hosts. */
  labels: Generated<string>;
  state: Generated<string>;
  memory_bytes: Big | null;
  cpus: number | null;
  arch: string | null;
  joined_at: Big | null;
  credential_hash: string | null;
}

export interface JoinTokensTable {
  hash: string;
  id: string;
  prefix: string;
  labels: string;
  created_by: string | null;
  created_at: Big;
  expires_at: Big;
  used_at: Big | null;
  used_by: string | null;
}

export interface UsageTable {
  app: string;
  day: string;
  instance_seconds: number | string;
  memory_mib_seconds: number | string;
}

export interface SeriesPointsTable {
  app: string;
  at: Big;
  instances: number;
  total: number;
  cpu: number | null;
  rps: number | null;
  p95_ms: number | null;
}

export interface WebhooksTable {
  id: string;
  app: string;
  url: string;
  events: string;
  secret: string;
  created_at: Big;
}

export interface WebhookDeliveriesTable {
  seq: Generated<Big>;
  id: string;
  webhook_id: string;
  app: string;
  event: string;
  attempt: number;
  status: number | null;
  ok: number | boolean;
  error: string | null;
  at: Big;
}

export interface DrainsTable {
  id: string;
  app: string;
  url: string;
  created_at: Big;
}

export interface BuildsTable {
  app: string;
  version: number;
  source: string;
  commit_sha: string | null;
  status: string;
  reason: string | null;
  started_at: Big;
  finished_at: Big | null;
  log: string;
  log_bytes: Big;
  truncated: number | boolean;
}

export interface ReleaseVerificationsTable {
  app: string;
  version: number;
  result: string;
  differences: string;
  rebuilt_sha256: string | null;
  checked_at: Big;
}

export interface PipelinesTable {
  name: string;
  created_at: Big;
}

export interface PipelineStagesTable {
  pipeline: string;
  position: number;
  stage: string;
  app: string;
}

export interface DomainsTable {
  host: string;
  app: string;
  created_at: Big;
}

export interface CertificatesTable {
  app: string;
  id: string;
  hosts: string;
  cert_pem: string;
  key_cipher: string;
  issuer: string;
  subject: string;
  not_before: Big;
  not_after: Big;
  source: string;
  created_at: Big;
}

export interface UsersTable {
  id: string;
  email: string;
  role: string;
  created_at: Big;
}

export interface AppAccessTable {
  app: string;
  user_id: string;
  created_at: Big;
}

export interface TokensTable {
  id: string;
  user_id: string;
  name: string;
  scope: string;
  app: string | null;
  hash: string;
  prefix: string;
  created_at: Big;
  created_by: string;
  expires_at: Big | null;
  revoked_at: Big | null;
  last_used_at: Big | null;
}

export interface AuditTable {
  id: Generated<Big>;
  at: Big;
  actor: string;
  token_id: string | null;
  token_name: string | null;
  address: string | null;
  method: string | null;
  route: string | null;
  app: string | null;
  action: string;
  outcome: string;
  status: number | null;
  detail: string;
}

export interface Database {
  settings: SettingsTable;
  apps: AppsTable;
  releases: ReleasesTable;
  app_config: AppConfigTable;
  instances: InstancesTable;
  events: EventsTable;
  hosts: HostsTable;
  join_tokens: JoinTokensTable;
  usage: UsageTable;
  series_points: SeriesPointsTable;
  webhooks: WebhooksTable;
  webhook_deliveries: WebhookDeliveriesTable;
  drains: DrainsTable;
  builds: BuildsTable;
  release_verifications: ReleaseVerificationsTable;
  domains: DomainsTable;
  certificates: CertificatesTable;
  pipelines: PipelinesTable;
  pipeline_stages: PipelineStagesTable;
  users: UsersTable;
  app_access: AppAccessTable;
  tokens: TokensTable;
  audit: AuditTable;
}
