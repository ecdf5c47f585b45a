// Hosts that join by dialing out (`summon hosts:join-token`, `summon agent --join`): each host
// row gains its labels, capacity, drain state and the sha256 of its own credential (revoked by
// deleting the row: `summon hosts:remove`), and join tokens are kept by their sha256 with the
// labels they give, their expiry and who used them.
import { type Kysely, type Migration } from 'kysely';

export function joinedHostsMigration(): Migration {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.alterTable('hosts').addColumn('labels', 'text', (c) => c.notNull().defaultTo('{}')).execute();
      await db.schema.alterTable('hosts').addColumn('state', 'text', (c) => c.notNull().defaultTo('active')).execute();
      await db.schema.alterTable('hosts').addColumn('memory_bytes', 'bigint').execute();
      await db.schema.alterTable('hosts').addColumn('cpus', 'integer').execute();
      await db.schema.alterTable('hosts').addColumn('arch', 'text').execute();
      await db.schema.alterTable('hosts').addColumn('joined_at', 'bigint').execute();
      await db.schema.alterTable('hosts').addColumn('credential_hash', 'text').execute();
      await db.schema
        .createTable('join_tokens')
        .addColumn('hash', 'text', (c) => c.primaryKey())
        .addColumn('id', 'text', (c) => c.notNull().unique())
        .addColumn('prefix', 'text', (c) => c.notNull())
        .addColumn('labels', 'text', (c) => c.notNull())
        .addColumn('created_by', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('used_at', 'bigint')
        .addColumn('used_by', 'text')
        .execute();
    },
    async down(db: Kysely<any>): Promise<void> {
      await db.schema.dropTable('join_tokens').ifExists().execute();
      for (const c of ['credential_hash', 'joined_at', 'arch', 'cpus', 'memory_bytes', 'state', 'labels']) {
        await db.schema.alterTable('hosts').dropColumn(c).execute();
      }
    },
  };
}
