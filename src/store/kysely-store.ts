// The Store on kysely, shared by the SQLite and PostgreSQL backends: only connection
// setup and the release-version allocation differ between them.
//
// Every method that writes is one statement or one transaction. On SQLite no
// transaction reads before its first write: a deferred SQLite transaction that reads and
// then writes fails with SQLITE_BUSY (without waiting) when another connection wrote in
// between, whereas one that starts by writing just waits for the lock (busy_timeout).
import { sql, type Kysely } from 'kysely';
import { ConflictError, InvalidInputError, NotFoundError, UnauthorizedError } from '../core/errors.js';
import type { App, Host, Instance, Release, SummonEvent } from '../core/types.js';
import { migrateToLatest, type StoreKind } from './migrations/index.js';
import {
  appFromRow,
  buildFromRow,
  deliveryFromRow,
  drainFromRow,
  eventFromRow,
  hostFromRow,
  instanceFromRow,
  instanceToRow,
  joinedHostFromRow,
  jsonOrNull,
  num,
  numOrNull,
  parseJson,
  releaseFromRow,
  releasePatchColumns,
  toJson,
  webhookFromRow,
} from './rows.js';
import type { AppsTable, Database, ReleasesTable } from './schema.js';
import type { AppPatch, BuildRecord, JoinToken, JoinedHost, NewJoinedHost, BuildSummary, Drain, NewEvent, NewRelease, ReleasePatch, SeriesRow, Store, UsageRow, Verification, Webhook, WebhookDelivery } from './store.js';
import type { AccessGrant, ApiToken, AuditEntry, NewAuditEntry, User } from './access-types.js';
import * as access from './access-queries.js';
import * as domains from './domain-queries.js';
import * as pipelines from './pipeline-queries.js';
import type { Pipeline } from './pipeline-types.js';
import type { Domain, StoredCert } from './domain-types.js';

export interface KyselyStoreOptions {
  db: Kysely<Database>;
  kind: StoreKind;
  /** Called once by close(), after the kysely instance is destroyed (e.g. to close a file). */
  onClose?: () => Promise<void> | void;
}

/** A new app runs one instance once it has a live release (the manifest's [scale] min default). */
const DEFAULT_DESIRED_COUNT = 1;
const DEFAULT_DELIVERY_LIMIT = 100;

export class KyselyStore implements Store {
  readonly kind: StoreKind;
  private readonly db: Kysely<Database>;
  private readonly onClose: (() => Promise<void> | void) | undefined;
  private closed = false;

  constructor(opts: KyselyStoreOptions) {
    if (!opts || !opts.db) throw new InvalidInputError('KyselyStore: options.db (a Kysely instance) is required');
    if (opts.kind !== 'sqlite' && opts.kind !== 'postgres') {
      throw new InvalidInputError(`KyselyStore: options.kind must be "sqlite" or "postgres", got ${JSON.stringify(opts.kind)}`);
    }
    this.db = opts.db;
    this.kind = opts.kind;
    this.onClose = opts.onClose;
  }

  /** A store on `opts.db`, migrated to the latest schema; closed again if migrating fails. */
  static async open(opts: KyselyStoreOptions): Promise<KyselyStore> {
    const store = new KyselyStore(opts);
    try {
      await store.migrate();
    } catch (e) {
      await store.close();
      throw e;
    }
    return store;
  }

  async migrate(): Promise<void> {
    await migrateToLatest(this.db, this.kind);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.db.destroy();
    await this.onClose?.();
  }

  // ---- settings

  async getSetting(key: string): Promise<string | undefined> {
    const r = await this.db.selectFrom('settings').select('value').where('key', '=', key).executeTakeFirst();
    return r?.value;
  }

  async setSetting(key: string, value: string): Promise<void> {
    await this.db
      .insertInto('settings')
      .values({ key, value })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value }))
      .execute();
  }

  // ---- apps

  async createApp(name: string, now: number): Promise<App> {
    // ON CONFLICT DO NOTHING instead of catching the unique violation: no dialect-specific
    // error codes, and on PostgreSQL no aborted statement.
    const row = await this.db
      .insertInto('apps')
      .values({
        name,
        created_at: now,
        desired_count: DEFAULT_DESIRED_COUNT,
        scale_policy: null,
        live_version: null,
        target_version: null,
      })
      .onConflict((oc) => oc.column('name').doNothing())
      .returningAll()
      .executeTakeFirst();
    if (!row) {
      throw new ConflictError(`app ${JSON.stringify(name)} already exists: pick another name`, { app: name });
    }
    return appFromRow(row);
  }

  async getApp(name: string): Promise<App | undefined> {
    const row = await this.db.selectFrom('apps').selectAll().where('name', '=', name).executeTakeFirst();
    return row ? appFromRow(row) : undefined;
  }

  async listApps(): Promise<App[]> {
    const rows = await this.db.selectFrom('apps').selectAll().orderBy('name').execute();
    return rows.map(appFromRow);
  }

  async updateApp(name: string, patch: AppPatch): Promise<App> {
    const set: Partial<AppsTable> = {};
    if (patch.desiredCount !== undefined) set.desired_count = patch.desiredCount;
    if (patch.scalePolicy !== undefined) set.scale_policy = jsonOrNull(patch.scalePolicy);
    if (patch.liveVersion !== undefined) set.live_version = patch.liveVersion;
    if (patch.targetVersion !== undefined) set.target_version = patch.targetVersion;
    const row =
      Object.keys(set).length === 0
        ? await this.db.selectFrom('apps').selectAll().where('name', '=', name).executeTakeFirst()
        : await this.db.updateTable('apps').set(set).where('name', '=', name).returningAll().executeTakeFirst();
    if (!row) throw appNotFound(name);
    return appFromRow(row);
  }

  /** Idempotent: deleting an app that does not exist does nothing. */
  async deleteApp(name: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('webhook_deliveries').where('app', '=', name).execute();
      await trx.deleteFrom('webhooks').where('app', '=', name).execute();
      await trx.deleteFrom('drains').where('app', '=', name).execute();
      await trx.deleteFrom('builds').where('app', '=', name).execute();
      await trx.deleteFrom('release_verifications').where('app', '=', name).execute();
      await trx.deleteFrom('domains').where('app', '=', name).execute();
      await trx.deleteFrom('pipeline_stages').where('app', '=', name).execute();
      await trx.deleteFrom('certificates').where('app', '=', name).execute();
      // Grants and the app's own tokens go with it: an app made later under the same name
      // must not inherit them. Its audit entries stay.
      await trx.deleteFrom('app_access').where('app', '=', name).execute();
      await trx.deleteFrom('tokens').where('app', '=', name).execute();
      await trx.deleteFrom('usage').where('app', '=', name).execute();
      await trx.deleteFrom('series_points').where('app', '=', name).execute();
      await trx.deleteFrom('events').where('app', '=', name).execute();
      await trx.deleteFrom('instances').where('app', '=', name).execute();
      await trx.deleteFrom('app_config').where('app', '=', name).execute();
      await trx.deleteFrom('releases').where('app', '=', name).execute();
      await trx.deleteFrom('apps').where('name', '=', name).execute();
    });
  }

  // ---- config

  async getConfig(app: string): Promise<string | null> {
    const r = await this.db.selectFrom('app_config').select('cipher').where('app', '=', app).executeTakeFirst();
    return r?.cipher ?? null;
  }

  async setConfig(app: string, cipher: string): Promise<void> {
    try {
      await this.db
        .insertInto('app_config')
        .values({ app, cipher })
        .onConflict((oc) => oc.column('app').doUpdateSet({ cipher }))
        .execute();
    } catch (e) {
      throw await this.missingAppOr(app, e);
    }
  }

  // ---- releases

  async createRelease(app: string, init: NewRelease, now: number): Promise<Release> {
    const v = {
      status: init.status,
      description: init.description,
      reason: init.reason,
      commit_sha: init.commit,
      artifact_sha256: init.artifactSha256,
      initrd_sha256: init.initrdSha256,
      manifest: jsonOrNull(init.manifest),
      build_manifest: jsonOrNull(init.buildManifest),
      config_cipher: init.configCipher,
    };
    let row: ReleasesTable | undefined;
    if (this.kind === 'sqlite') {
      // One statement: SQLite takes the write lock before it reads max(version), so
      // concurrent writers (other connections or processes) queue instead of racing.
      // Selecting from apps makes a missing app insert nothing.
      const r = await sql<ReleasesTable>`
        insert into releases (app, version, status, description, reason, commit_sha, artifact_sha256,
          initrd_sha256, manifest, build_manifest, config_cipher, created_at, updated_at)
        select name, (select coalesce(max(version), 0) + 1 from releases where app = ${app}),
          ${v.status}, ${v.description}, ${v.reason}, ${v.commit_sha}, ${v.artifact_sha256},
          ${v.initrd_sha256}, ${v.manifest}, ${v.build_manifest}, ${v.config_cipher}, ${now}, ${now}
        from apps where name = ${app}
        returning *`.execute(this.db);
      row = r.rows[0];
    } else {
      // PostgreSQL: lock the app row so allocations for one app are serialized; under READ
      // COMMITTED the max() that follows sees every release committed before the lock.
      row = await this.db.transaction().execute(async (trx) => {
        const locked = await trx.selectFrom('apps').select('name').where('name', '=', app).forUpdate().executeTakeFirst();
        if (!locked) return undefined;
        const m = await trx
          .selectFrom('releases')
          .select((eb) => eb.fn.max('version').as('v'))
          .where('app', '=', app)
          .executeTakeFirst();
        const version = m?.v == null ? 1 : num(m.v) + 1;
        return trx
          .insertInto('releases')
          .values({ app, version, ...v, created_at: now, updated_at: now })
          .returningAll()
          .executeTakeFirstOrThrow();
      });
    }
    if (!row) throw appNotFound(app);
    return releaseFromRow(row);
  }

  async updateRelease(app: string, version: number, patch: ReleasePatch, now: number): Promise<Release> {
    const row = await this.db
      .updateTable('releases')
      .set({ ...releasePatchColumns(patch), updated_at: now })
      .where('app', '=', app)
      .where('version', '=', version)
      .returningAll()
      .executeTakeFirst();
    if (!row) {
      throw new NotFoundError('release', `${app} v${version}`, `list the releases with \`summon releases -a ${app}\``);
    }
    return releaseFromRow(row);
  }

  async getRelease(app: string, version: number): Promise<Release | undefined> {
    const row = await this.db
      .selectFrom('releases')
      .selectAll()
      .where('app', '=', app)
      .where('version', '=', version)
      .executeTakeFirst();
    return row ? releaseFromRow(row) : undefined;
  }

  async listReleases(app: string): Promise<Release[]> {
    const rows = await this.db.selectFrom('releases').selectAll().where('app', '=', app).orderBy('version', 'desc').execute();
    return rows.map(releaseFromRow);
  }

  // ---- instances

  async putInstance(instance: Instance): Promise<void> {
    const row = instanceToRow(instance);
    const { id: _id, ...rest } = row;
    await this.db
      .insertInto('instances')
      .values(row)
      .onConflict((oc) => oc.column('id').doUpdateSet(rest))
      .execute();
  }

  async deleteInstance(id: string): Promise<void> {
    await this.db.deleteFrom('instances').where('id', '=', id).execute();
  }

  async listInstances(filter: { app?: string; host?: string } = {}): Promise<Instance[]> {
    let q = this.db.selectFrom('instances').selectAll();
    if (filter.app !== undefined) q = q.where('app', '=', filter.app);
    if (filter.host !== undefined) q = q.where('host', '=', filter.host);
    const rows = await q.orderBy('app').orderBy('id').execute();
    return rows.map(instanceFromRow);
  }

  // ---- events

  async appendEvent(event: NewEvent): Promise<SummonEvent> {
    const r = await this.db
      .insertInto('events')
      .values({ app: event.app, type: event.type, message: event.message, data: toJson(event.data ?? {}), at: event.at })
      .returning('id')
      .executeTakeFirstOrThrow();
    return { id: num(r.id), app: event.app, type: event.type, message: event.message, data: event.data ?? {}, at: event.at };
  }

  /** An empty `types` list means no type filter, like an absent one. */
  async listEvents(filter: { app?: string; afterId?: number; limit?: number; types?: string[] }): Promise<SummonEvent[]> {
    const { app, afterId, limit, types } = filter ?? {};
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) {
      throw new InvalidInputError(`events limit must be a non-negative integer, got ${String(limit)}`);
    }
    if (afterId !== undefined && !Number.isFinite(afterId)) {
      throw new InvalidInputError(`events afterId must be a number, got ${String(afterId)}`);
    }
    if (limit === 0) return [];
    let q = this.db.selectFrom('events').selectAll();
    if (app !== undefined) q = q.where('app', '=', app);
    if (afterId !== undefined) q = q.where('id', '>', afterId);
    if (types && types.length > 0) q = q.where('type', 'in', types);
    if (limit === undefined) return (await q.orderBy('id', 'asc').execute()).map(eventFromRow);
    const rows = await q.orderBy('id', 'desc').limit(limit).execute();
    return rows.reverse().map(eventFromRow);
  }

  // ---- hosts

  async putHost(host: Host): Promise<void> {
    const rest = { address: host.address, runtimes: toJson(host.runtimes), last_seen_at: host.lastSeenAt };
    await this.db
      .insertInto('hosts')
      .values({ id: host.id, ...rest })
      .onConflict((oc) => oc.column('id').doUpdateSet(rest))
      .execute();
  }

  async listHosts(): Promise<Host[]> {
    const rows = await this.db.selectFrom('hosts').selectAll().orderBy('id').execute();
    return rows.map(hostFromRow);
  }

  // ---- hosts that joined (dialing out)

  async createJoinToken(t: JoinToken & { hash: string }): Promise<void> {
    await this.db.insertInto('join_tokens').values({
      hash: t.hash, id: t.id, prefix: t.prefix, labels: toJson(t.labels), created_by: t.createdBy,
      created_at: t.createdAt, expires_at: t.expiresAt, used_at: t.usedAt, used_by: t.usedBy,
    }).execute();
  }

  async listJoinTokens(): Promise<JoinToken[]> {
    const rows = await this.db.selectFrom('join_tokens').selectAll().orderBy('created_at').orderBy('id').execute();
    return rows.map((r) => ({
      id: r.id, prefix: r.prefix, labels: parseJson<Record<string, string>>(r.labels), createdBy: r.created_by,
      createdAt: num(r.created_at), expiresAt: num(r.expires_at), usedAt: numOrNull(r.used_at), usedBy: r.used_by,
    }));
  }

  async redeemJoinToken(hash: string, host: NewJoinedHost, now: number): Promise<JoinedHost> {
    return this.db.transaction().execute(async (trx) => {
      // The write first (SQLite: see the top of the file), and the use is the condition: two
      // hosts joining with one token at once cannot both get it.
      const used = await trx.updateTable('join_tokens').set({ used_at: now, used_by: host.id })
        .where('hash', '=', hash).where('used_at', 'is', null).where('expires_at', '>', now)
        .returning(['labels']).executeTakeFirst();
      if (!used) {
        const t = await trx.selectFrom('join_tokens').selectAll().where('hash', '=', hash).executeTakeFirst();
        const again = 'make a new one on the control plane with `summon hosts:join-token`';
        if (!t) throw new UnauthorizedError(`this join token is not one of this control plane's: ${again}`);
        if (t.used_at !== null) throw new UnauthorizedError(`this join token was used already (by host ${t.used_by ?? '?'} at ${new Date(num(t.used_at)).toISOString()}); a join token joins one host: ${again}`);
        throw new UnauthorizedError(`this join token expired at ${new Date(num(t.expires_at)).toISOString()}: ${again}`);
      }
      const existing = await trx.selectFrom('hosts').select(['credential_hash']).where('id', '=', host.id).executeTakeFirst();
      if (existing?.credential_hash) {
        throw new ConflictError(`host ${host.id} has joined already: give this one another id (summon agent --join … --id NAME), or remove the old one first (\`summon hosts:remove ${host.id}\`)`);
      }
      // The token's labels, then what the host says of itself (its arch) where the token gave none.
      const labels = { ...(host.arch ? { arch: host.arch } : {}), ...parseJson<Record<string, string>>(used.labels), ...host.labels };
      const row = {
        address: host.address, runtimes: toJson(host.runtimes), last_seen_at: now, labels: toJson(labels), state: 'active',
        memory_bytes: host.memoryBytes, cpus: host.cpus, arch: host.arch, joined_at: now, credential_hash: host.credentialHash,
      };
      await trx.insertInto('hosts').values({ id: host.id, ...row }).onConflict((oc) => oc.column('id').doUpdateSet(row)).execute();
      return { id: host.id, address: host.address, labels, state: 'active', memoryBytes: host.memoryBytes, cpus: host.cpus, arch: host.arch, runtimes: host.runtimes, joinedAt: now, lastSeenAt: now } satisfies JoinedHost;
    });
  }

  async listJoinedHosts(): Promise<JoinedHost[]> {
    const rows = await this.db.selectFrom('hosts').selectAll().where('credential_hash', 'is not', null).orderBy('id').execute();
    return rows.map(joinedHostFromRow);
  }

  async joinedHostCredential(id: string): Promise<string | null> {
    const r = await this.db.selectFrom('hosts').select(['credential_hash']).where('id', '=', id).executeTakeFirst();
    return r?.credential_hash ?? null;
  }

  async updateJoinedHost(id: string, patch: Partial<Pick<JoinedHost, 'state' | 'address' | 'runtimes' | 'lastSeenAt' | 'memoryBytes' | 'cpus' | 'arch'>>): Promise<JoinedHost> {
    const set = {
      ...(patch.state !== undefined ? { state: patch.state } : {}),
      ...(patch.address !== undefined ? { address: patch.address } : {}),
      ...(patch.runtimes !== undefined ? { runtimes: toJson(patch.runtimes) } : {}),
      ...(patch.lastSeenAt !== undefined ? { last_seen_at: patch.lastSeenAt } : {}),
      ...(patch.memoryBytes !== undefined ? { memory_bytes: patch.memoryBytes } : {}),
      ...(patch.cpus !== undefined ? { cpus: patch.cpus } : {}),
      ...(patch.arch !== undefined ? { arch: patch.arch } : {}),
    };
    const r = Object.keys(set).length
      ? await this.db.updateTable('hosts').set(set).where('id', '=', id).where('credential_hash', 'is not', null).returningAll().executeTakeFirst()
      : await this.db.selectFrom('hosts').selectAll().where('id', '=', id).where('credential_hash', 'is not', null).executeTakeFirst();
    if (!r) throw new NotFoundError('host', id, 'see `summon hosts`');
    return joinedHostFromRow(r);
  }

  async removeJoinedHost(id: string): Promise<boolean> {
    const r = await this.db.deleteFrom('hosts').where('id', '=', id).where('credential_hash', 'is not', null).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  // ---- usage

  async addUsage(app: string, day: string, instanceSeconds: number, memoryMibSeconds = 0): Promise<void> {
    if (!Number.isFinite(instanceSeconds)) {
      throw new InvalidInputError(`usage instanceSeconds must be a finite number, got ${String(instanceSeconds)}`);
    }
    if (!Number.isFinite(memoryMibSeconds)) {
      throw new InvalidInputError(`usage memoryMibSeconds must be a finite number, got ${String(memoryMibSeconds)}`);
    }
    await this.db
      .insertInto('usage')
      .values({ app, day, instance_seconds: instanceSeconds, memory_mib_seconds: memoryMibSeconds })
      .onConflict((oc) =>
        oc.columns(['app', 'day']).doUpdateSet({
          instance_seconds: sql<number>`usage.instance_seconds + excluded.instance_seconds`,
          memory_mib_seconds: sql<number>`usage.memory_mib_seconds + excluded.memory_mib_seconds`,
        }),
      )
      .execute();
  }

  async getUsage(app: string, day: string): Promise<number> {
    const r = await this.db
      .selectFrom('usage')
      .select('instance_seconds')
      .where('app', '=', app)
      .where('day', '=', day)
      .executeTakeFirst();
    return r ? Number(r.instance_seconds) : 0;
  }

  async listUsage(filter: { fromDay: string; app?: string }): Promise<UsageRow[]> {
    let q = this.db.selectFrom('usage').selectAll().where('day', '>=', filter.fromDay);
    if (filter.app !== undefined) q = q.where('app', '=', filter.app);
    const rows = await q.orderBy('app').orderBy('day').execute();
    return rows.map((r) => ({ app: r.app, day: r.day, instanceSeconds: Number(r.instance_seconds), memoryMibSeconds: Number(r.memory_mib_seconds) }));
  }

  // ---- chart points

  async addSeriesPoints(points: SeriesRow[]): Promise<void> {
    // In chunks: one statement's bound values stay far below either database's limit.
    for (let i = 0; i < points.length; i += 500) {
      const rows = points.slice(i, i + 500).map((p) => ({
        app: p.app, at: p.at, instances: p.instances, total: p.total, cpu: p.cpu, rps: p.rps, p95_ms: p.p95Ms,
      }));
      await this.db.insertInto('series_points').values(rows).onConflict((oc) => oc.columns(['app', 'at']).doNothing()).execute();
    }
  }

  async listSeriesPoints(since: number): Promise<SeriesRow[]> {
    const rows = await this.db.selectFrom('series_points').selectAll().where('at', '>=', since).orderBy('app').orderBy('at').execute();
    const n = (v: number | string | null) => (v === null ? null : Number(v));
    return rows.map((r) => ({
      app: r.app, at: Number(r.at), instances: Number(r.instances), total: Number(r.total), cpu: n(r.cpu), rps: n(r.rps), p95Ms: n(r.p95_ms),
    }));
  }

  async pruneSeriesPoints(before: number): Promise<number> {
    const r = await this.db.deleteFrom('series_points').where('at', '<', before).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  // ---- webhooks

  async addWebhook(hook: Webhook): Promise<void> {
    try {
      await this.db
        .insertInto('webhooks')
        .values({
          id: hook.id,
          app: hook.app,
          url: hook.url,
          events: toJson(hook.events),
          secret: hook.secret,
          created_at: hook.createdAt,
        })
        .execute();
    } catch (e) {
      throw await this.missingAppOr(hook.app, e);
    }
  }

  async listWebhooks(app: string): Promise<Webhook[]> {
    const rows = await this.db
      .selectFrom('webhooks')
      .selectAll()
      .where('app', '=', app)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(webhookFromRow);
  }

  async deleteWebhook(app: string, id: string): Promise<void> {
    await this.db.deleteFrom('webhooks').where('app', '=', app).where('id', '=', id).execute();
  }

  async addDelivery(d: WebhookDelivery): Promise<void> {
    await this.db
      .insertInto('webhook_deliveries')
      .values({
        id: d.id,
        webhook_id: d.webhookId,
        app: d.app,
        event: d.event,
        attempt: d.attempt,
        status: d.status,
        ok: d.ok ? 1 : 0,
        error: d.error,
        at: d.at,
      })
      .execute();
  }

  /** Newest first; at most `limit` (default 100). */
  async listDeliveries(app: string, limit = DEFAULT_DELIVERY_LIMIT): Promise<WebhookDelivery[]> {
    if (!Number.isInteger(limit) || limit < 0) {
      throw new InvalidInputError(`deliveries limit must be a non-negative integer, got ${String(limit)}`);
    }
    const rows = await this.db
      .selectFrom('webhook_deliveries')
      .select(['id', 'webhook_id', 'app', 'event', 'attempt', 'status', 'ok', 'error', 'at'])
      .where('app', '=', app)
      .orderBy('seq', 'desc')
      .limit(limit)
      .execute();
    return rows.map(deliveryFromRow);
  }

  // ---- drains

  async addDrain(drain: Drain): Promise<void> {
    let added: { id: string } | undefined;
    try {
      // ON CONFLICT DO NOTHING, as in createApp: no dialect-specific unique-violation codes.
      added = await this.db
        .insertInto('drains')
        .values({ id: drain.id, app: drain.app, url: drain.url, created_at: drain.createdAt })
        .onConflict((oc) => oc.columns(['app', 'url']).doNothing())
        .returning('id')
        .executeTakeFirst();
    } catch (e) {
      throw await this.missingAppOr(drain.app, e);
    }
    if (!added) {
      throw new ConflictError(`${drain.app} already drains to ${drain.url}: see \`summon drains -a ${drain.app}\``, { app: drain.app, url: drain.url });
    }
  }

  async listDrains(app: string): Promise<Drain[]> {
    const rows = await this.db.selectFrom('drains').selectAll().where('app', '=', app).orderBy('created_at').orderBy('id').execute();
    return rows.map(drainFromRow);
  }

  async deleteDrain(app: string, id: string): Promise<void> {
    await this.db.deleteFrom('drains').where('app', '=', app).where('id', '=', id).execute();
  }

  async saveBuild(b: BuildRecord): Promise<void> {
    const row = {
      app: b.app, version: b.version, source: b.source, commit_sha: b.commit, status: b.status, reason: b.reason,
      started_at: b.startedAt, finished_at: b.finishedAt, log: b.log, log_bytes: b.logBytes,
      truncated: this.kind === 'sqlite' ? Number(b.truncated) : b.truncated,
    };
    await this.db.insertInto('builds').values(row)
      .onConflict((oc) => oc.columns(['app', 'version']).doUpdateSet({
        status: row.status, reason: row.reason, finished_at: row.finished_at, log: row.log, log_bytes: row.log_bytes, truncated: row.truncated,
      }))
      .execute();
  }

  async listBuilds(app: string, limit: number): Promise<BuildSummary[]> {
    const rows = await this.db.selectFrom('builds')
      .select(['app', 'version', 'source', 'commit_sha', 'status', 'reason', 'started_at', 'finished_at', 'log_bytes', 'truncated'])
      .where('app', '=', app).orderBy('version', 'desc').limit(limit).execute();
    return rows.map((r) => {
      const { log: _log, ...summary } = buildFromRow({ ...r, log: '' });
      return summary;
    });
  }

  async saveVerification(v: Verification): Promise<void> {
    const row = { app: v.app, version: v.version, result: v.result, differences: JSON.stringify(v.differences), rebuilt_sha256: v.rebuiltSha256, checked_at: v.checkedAt };
    await this.db.insertInto('release_verifications').values(row)
      .onConflict((oc) => oc.columns(['app', 'version']).doUpdateSet({ result: row.result, differences: row.differences, rebuilt_sha256: row.rebuilt_sha256, checked_at: row.checked_at }))
      .execute();
  }

  async listVerifications(app: string): Promise<Verification[]> {
    const rows = await this.db.selectFrom('release_verifications').selectAll().where('app', '=', app).orderBy('version').execute();
    return rows.map((r) => ({
      app: r.app, version: r.version, result: r.result as Verification['result'], differences: JSON.parse(r.differences) as string[],
      rebuiltSha256: r.rebuilt_sha256, checkedAt: num(r.checked_at),
    }));
  }

  async getBuild(app: string, version: number): Promise<BuildRecord | undefined> {
    const r = await this.db.selectFrom('builds').selectAll().where('app', '=', app).where('version', '=', version).executeTakeFirst();
    return r ? buildFromRow(r) : undefined;
  }

  // ---- pipelines (pipeline-queries.ts)

  async createPipeline(p: Pipeline): Promise<void> {
    try {
      await pipelines.createPipeline(this.db, p);
    } catch (e) {
      if (e instanceof ConflictError) throw e;
      for (const s of p.stages) if (!(await this.getApp(s.app))) throw new NotFoundError('app', s.app, 'see `summon apps`');
      throw e;
    }
  }
  listPipelines(): Promise<Pipeline[]> { return pipelines.listPipelines(this.db); }
  pipelineOf(app: string): Promise<Pipeline | undefined> { return pipelines.pipelineOf(this.db, app); }
  deletePipeline(name: string): Promise<boolean> { return pipelines.deletePipeline(this.db, name); }

  // ---- custom domains and certificates (domain-queries.ts)

  async addDomain(d: Domain): Promise<void> {
    try {
      await domains.addDomain(this.db, d);
    } catch (e) {
      if (e instanceof ConflictError) throw e;
      throw await this.missingAppOr(d.app, e);
    }
  }
  getDomain(host: string): Promise<Domain | undefined> { return domains.getDomain(this.db, host); }
  listDomains(app?: string): Promise<Domain[]> { return domains.listDomains(this.db, app); }
  deleteDomain(app: string, host: string): Promise<boolean> { return domains.deleteDomain(this.db, app, host); }
  async putCert(c: StoredCert): Promise<void> {
    try {
      await domains.putCert(this.db, c);
    } catch (e) {
      throw await this.missingAppOr(c.app, e);
    }
  }
  listCerts(app?: string): Promise<StoredCert[]> { return domains.listCerts(this.db, app); }
  deleteCert(app: string, id: string): Promise<boolean> { return domains.deleteCert(this.db, app, id); }

  // ---- users, access, tokens, audit (access-queries.ts)

  addUser(user: User): Promise<void> { return access.addUser(this.db, user); }
  getUser(email: string): Promise<User | undefined> { return access.getUser(this.db, email); }
  listUsers(): Promise<User[]> { return access.listUsers(this.db); }
  deleteUser(id: string): Promise<void> { return access.deleteUser(this.db, id); }
  grantAccess(app: string, userId: string, now: number): Promise<void> { return access.grantAccess(this.db, app, userId, now); }
  revokeAccess(app: string, userId: string): Promise<boolean> { return access.revokeAccess(this.db, app, userId); }
  listAccess(filter: { app?: string; userId?: string }): Promise<AccessGrant[]> { return access.listAccess(this.db, filter); }
  addToken(token: ApiToken): Promise<void> { return access.addToken(this.db, token); }
  findTokenByHash(hash: string): Promise<{ token: ApiToken; user: User } | undefined> { return access.findTokenByHash(this.db, hash); }
  getToken(id: string): Promise<ApiToken | undefined> { return access.getToken(this.db, id); }
  listTokens(filter?: { userId?: string }): Promise<ApiToken[]> { return access.listTokens(this.db, filter); }
  revokeToken(id: string, now: number): Promise<ApiToken> { return access.revokeToken(this.db, id, now); }
  touchToken(id: string, now: number): Promise<void> { return access.touchToken(this.db, id, now); }
  appendAudit(entry: NewAuditEntry): Promise<AuditEntry> { return access.appendAudit(this.db, entry); }
  listAudit(filter: { app?: string; afterId?: number; limit?: number }): Promise<AuditEntry[]> { return access.listAudit(this.db, filter); }

  // ---- helpers

  /** After a failed write that needs the app: NotFoundError when the app is missing, else the original error. */
  private async missingAppOr(app: string, e: unknown): Promise<unknown> {
    // If even the lookup fails the database is the problem: report the original error.
    const exists = await this.getApp(app).then((a) => a !== undefined, () => true);
    return exists ? e : appNotFound(app);
  }
}

function appNotFound(name: string): NotFoundError {
  return new NotFoundError('app', name, 'create it with `summon apps:create` or check the name with `summon apps`');
}
