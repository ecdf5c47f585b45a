// Custom domains (one app per hostname, across all apps: the host is the key) and the
// certificates apps serve them with, their private keys encrypted like config vars.
import { type Kysely, type Migration } from 'kysely';

export function domainsMigration(): Migration {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('domains')
        .addColumn('host', 'text', (c) => c.primaryKey())
        .addColumn('app', 'text', (c) => c.notNull().references('apps.name').onDelete('cascade'))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('domains_app_idx').on('domains').column('app').execute();
      await db.schema
        .createTable('certificates')
        .addColumn('app', 'text', (c) => c.notNull().references('apps.name').onDelete('cascade'))
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('hosts', 'text', (c) => c.notNull())
        .addColumn('cert_pem', 'text', (c) => c.notNull())
        .addColumn('key_cipher', 'text', (c) => c.notNull())
        .addColumn('issuer', 'text', (c) => c.notNull())
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('not_before', 'bigint', (c) => c.notNull())
        .addColumn('not_after', 'bigint', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('certificates_pk', ['app', 'id'])
        .execute();
    },
    async down(db: Kysely<any>): Promise<void> {
      await db.schema.dropTable('certificates').ifExists().execute();
      await db.schema.dropTable('domains').ifExists().execute();
    },
  };
}
