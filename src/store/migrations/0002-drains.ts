// Log drains (src/drains/). One URL once per app: a second drain to the same receiver would
// only send every line twice.
import { type Kysely, type Migration } from 'kysely';

export function drainsMigration(): Migration {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('drains')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('app', 'text', (c) => c.notNull().references('apps.name').onDelete('cascade'))
        .addColumn('url', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('drains_app_url_idx').on('drains').columns(['app', 'url']).unique().execute();
    },
    async down(db: Kysely<any>): Promise<void> {
      await db.schema.dropTable('drains').ifExists().execute();
    },
  };
}
