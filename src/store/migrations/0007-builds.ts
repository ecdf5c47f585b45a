// Build history: every build of a push, failed or not, with its whole log (bounded), so a
// failed push can be read after the fact (`summon builds:info`), one per release it made; and
// each release's last rebuild verification (`summon releases:verify`).
import { type Kysely, type Migration } from 'kysely';

export function buildsMigration(): Migration {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('builds')
        .addColumn('app', 'text', (c) => c.notNull().references('apps.name').onDelete('cascade'))
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('commit_sha', 'text')
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('reason', 'text')
        .addColumn('started_at', 'bigint', (c) => c.notNull())
        .addColumn('finished_at', 'bigint')
        .addColumn('log', 'text', (c) => c.notNull())
        .addColumn('log_bytes', 'bigint', (c) => c.notNull())
        .addColumn('truncated', 'boolean', (c) => c.notNull())
        .addPrimaryKeyConstraint('builds_pk', ['app', 'version'])
        .execute();
      // The last `releases:verify` of a release: rebuilt from its manifest, the same bytes or not.
      await db.schema
        .createTable('release_verifications')
        .addColumn('app', 'text', (c) => c.notNull().references('apps.name').onDelete('cascade'))
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('result', 'text', (c) => c.notNull())
        .addColumn('differences', 'text', (c) => c.notNull())
        .addColumn('rebuilt_sha256', 'text')
        .addColumn('checked_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('release_verifications_pk', ['app', 'version'])
        .execute();
    },
    async down(db: Kysely<any>): Promise<void> {
      await db.schema.dropTable('release_verifications').ifExists().execute();
      await db.schema.dropTable('builds').ifExists().execute();
    },
  };
}
