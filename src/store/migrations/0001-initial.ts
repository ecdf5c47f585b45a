// The first schema. Times are epoch milliseconds in bigint columns; JSON-valued fields
// (manifests, scale policies, event data, runtimes, webhook events) are JSON text so the
// same query code serves both dialects.
import { type Kysely, type Migration } from 'kysely';
import type { StoreKind } from './index.js';

export function initialMigration(kind: StoreKind): Migration {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('settings')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('apps')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('desired_count', 'integer', (c) => c.notNull())
        .addColumn('scale_policy', 'text')
        .addColumn('live_version', 'integer')
        .addColumn('target_version', 'integer')
        .execute();

      // Releases and config belong to an app by foreign key: writing one for a missing
      // app is a bug. Instances, events, usage and deliveries do not, because agents and
      // notifiers may still report about an app while it is being deleted; deleteApp
      // removes their rows explicitly.
      await db.schema
        .createTable('releases')
        .addColumn('app', 'text', (c) => c.notNull().references('apps.name').onDelete('cascade'))
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('reason', 'text')
        .addColumn('commit_sha', 'text')
        .addColumn('artifact_sha256', 'text')
        .addColumn('initrd_sha256', 'text')
        .addColumn('manifest', 'text')
        .addColumn('build_manifest', 'text')
        .addColumn('config_cipher', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('releases_pk', ['app', 'version'])
        .execute();

      await db.schema
        .createTable('app_config')
        .addColumn('app', 'text', (c) => c.primaryKey().references('apps.name').onDelete('cascade'))
        .addColumn('cipher', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('instances')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('app', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('host', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('address', 'text', (c) => c.notNull())
        .addColumn('port', 'integer')
        .addColumn('pid', 'integer')
        .addColumn('started_at', 'bigint')
        .addColumn('healthy_at', 'bigint')
        .addColumn('restarts', 'integer', (c) => c.notNull())
        .addColumn('reason', 'text')
        .addColumn('next_retry_at', 'bigint')
        .addColumn('cpu', 'double precision')
        .addColumn('memory_bytes', 'bigint')
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('instances_app_idx').on('instances').column('app').execute();
      await db.schema.createIndex('instances_host_idx').on('instances').column('host').execute();

      // Event ids are the paging cursor, so they must only ever grow.
      await db.schema
        .createTable('events')
        .addColumn('id', kind === 'sqlite' ? 'integer' : 'bigserial', (c) =>
          kind === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey(),
        )
        .addColumn('app', 'text')
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('message', 'text', (c) => c.notNull())
        .addColumn('data', 'text', (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('events_app_id_idx').on('events').columns(['app', 'id']).execute();

      await db.schema
        .createTable('hosts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('address', 'text', (c) => c.notNull())
        .addColumn('runtimes', 'text', (c) => c.notNull())
        .addColumn('last_seen_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('usage')
        .addColumn('app', 'text', (c) => c.notNull())
        .addColumn('day', 'text', (c) => c.notNull())
        .addColumn('instance_seconds', 'double precision', (c) => c.notNull())
        .addPrimaryKeyConstraint('usage_pk', ['app', 'day'])
        .execute();

      await db.schema
        .createTable('webhooks')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('app', 'text', (c) => c.notNull().references('apps.name').onDelete('cascade'))
        .addColumn('url', 'text', (c) => c.notNull())
        .addColumn('events', 'text', (c) => c.notNull())
        .addColumn('secret', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('webhooks_app_idx').on('webhooks').column('app').execute();

      // seq keeps "newest first" stable when two deliveries share a millisecond.
      await db.schema
        .createTable('webhook_deliveries')
        .addColumn('seq', kind === 'sqlite' ? 'integer' : 'bigserial', (c) =>
          kind === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey(),
        )
        .addColumn('id', 'text', (c) => c.notNull().unique())
        .addColumn('webhook_id', 'text', (c) => c.notNull())
        .addColumn('app', 'text', (c) => c.notNull())
        .addColumn('event', 'text', (c) => c.notNull())
        .addColumn('attempt', 'integer', (c) => c.notNull())
        .addColumn('status', 'integer')
        .addColumn('ok', 'integer', (c) => c.notNull())
        .addColumn('error', 'text')
        .addColumn('at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('webhook_deliveries_app_idx')
        .on('webhook_deliveries')
        .columns(['app', 'seq'])
        .execute();
    },
    async down(db: Kysely<any>): Promise<void> {
      for (const t of [
        'webhook_deliveries',
        'webhooks',
        'usage',
        'hosts',
        'events',
        'instances',
        'app_config',
        'releases',
        'apps',
        'settings',
      ]) {
        await db.schema.dropTable(t).ifExists().execute();
      }
    },
  };
}
