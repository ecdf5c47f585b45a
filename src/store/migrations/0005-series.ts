// The dashboard charts' points (api/series.ts), so their hour of history outlives a restart of
// Summon. Only apps with instances or traffic get points, at most one per app per sample;
// pruned by time, so the table holds at most an hour of them.
import { type Kysely, type Migration } from 'kysely';

export function seriesMigration(): Migration {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('series_points')
        .addColumn('app', 'text', (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('instances', 'integer', (c) => c.notNull())
        .addColumn('total', 'integer', (c) => c.notNull())
        .addColumn('cpu', 'double precision')
        .addColumn('rps', 'double precision')
        .addColumn('p95_ms', 'double precision')
        .addPrimaryKeyConstraint('series_points_pk', ['app', 'at'])
        .execute();
      await db.schema.createIndex('series_points_at_idx').on('series_points').column('at').execute();
    },
    async down(db: Kysely<any>): Promise<void> {
      await db.schema.dropTable('series_points').ifExists().execute();
    },
  };
}
