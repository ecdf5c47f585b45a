// Pipelines (no command yet; ReleaseService.promote uses them): an ordered list of stages, each one app; an app is in
// at most one pipeline (promotion goes from its stage to the next).
import { type Kysely, type Migration } from 'kysely';

export function pipelinesMigration(): Migration {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('pipelines')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('pipeline_stages')
        .addColumn('pipeline', 'text', (c) => c.notNull().references('pipelines.name').onDelete('cascade'))
        .addColumn('position', 'integer', (c) => c.notNull())
        .addColumn('stage', 'text', (c) => c.notNull())
        .addColumn('app', 'text', (c) => c.notNull().unique().references('apps.name').onDelete('cascade'))
        .addPrimaryKeyConstraint('pipeline_stages_pk', ['pipeline', 'position'])
        .execute();
    },
    async down(db: Kysely<any>): Promise<void> {
      await db.schema.dropTable('pipeline_stages').ifExists().execute();
      await db.schema.dropTable('pipelines').ifExists().execute();
    },
  };
}
