// Memory-seconds beside instance-seconds in each (app, day) row of usage: the [run].memory
// reservation of every running instance × the seconds it ran, in MiB·s (what it held the
// host to, not what it touched). Rows from before this migration read 0.
import { type Kysely, type Migration } from 'kysely';

export function usageMemoryMigration(): Migration {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.alterTable('usage').addColumn('memory_mib_seconds', 'double precision', (c) => c.notNull().defaultTo(0)).execute();
    },
    async down(db: Kysely<any>): Promise<void> {
      await db.schema.alterTable('usage').dropColumn('memory_mib_seconds').execute();
    },
  };
}
