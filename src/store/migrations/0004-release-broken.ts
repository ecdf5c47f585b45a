// A release whose artifact (or initrd) was found missing or altered in the blob store before
// an instance of it started (src/artifacts/verify.ts): why, and since when. Its status keeps
// its lifecycle (live, superseded…); broken is beside it.
import { type Kysely, type Migration } from 'kysely';

export function releaseBrokenMigration(): Migration {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.alterTable('releases').addColumn('broken_reason', 'text').execute();
      await db.schema.alterTable('releases').addColumn('broken_at', 'bigint').execute();
    },
    async down(db: Kysely<any>): Promise<void> {
      await db.schema.alterTable('releases').dropColumn('broken_at').execute();
      await db.schema.alterTable('releases').dropColumn('broken_reason').execute();
    },
  };
}
