// Migrations live in code (not files read at runtime) so the compiled dist/ is all a
// node needs. Append new migrations with a name that sorts after the previous ones;
// never edit one that has shipped.
import { Migrator, type Kysely, type Migration, type MigrationProvider, type MigrationResultSet } from 'kysely';
import { SummonError } from '../../core/errors.js';
import { initialMigration } from './0001-initial.js';
import { drainsMigration } from './0002-drains.js';
import { releaseBrokenMigration } from './0004-release-broken.js';
import { accessMigration } from './0003-access.js';
import { seriesMigration } from './0005-series.js';
import { usageMemoryMigration } from './0006-usage-memory.js';
import { buildsMigration } from './0007-builds.js';
import { clusterMigration } from './0008-cluster.js';
import { domainsMigration } from './0009-domains.js';
import { joinedHostsMigration } from './0010-joined-hosts.js';
import { pipelinesMigration } from './0011-pipelines.js';

export type StoreKind = 'sqlite' | 'postgres';

export function migrationsFor(kind: StoreKind): Record<string, Migration> {
  return {
    '0001-initial': initialMigration(kind),
    '0002-drains': drainsMigration(),
    '0004-release-broken': releaseBrokenMigration(),
    '0003-access': accessMigration(kind),
    '0005-series': seriesMigration(),
    '0006-usage-memory': usageMemoryMigration(),
    '0007-builds': buildsMigration(),
    '0008-cluster': clusterMigration(kind),
    '0009-domains': domainsMigration(),
    '0010-joined-hosts': joinedHostsMigration(),
    '0011-pipelines': pipelinesMigration(),
  };
}

class InCodeMigrationProvider implements MigrationProvider {
  constructor(private readonly migrations: Record<string, Migration>) {}
  getMigrations(): Promise<Record<string, Migration>> {
    return Promise.resolve(this.migrations);
  }
}

/** Brings the schema to the newest version; a no-op when it already is. */
export async function migrateToLatest(db: Kysely<any>, kind: StoreKind): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: new InCodeMigrationProvider(migrationsFor(kind)),
    migrationTableName: 'summon_migrations',
    migrationLockTableName: 'summon_migrations_lock',
  });
  const result: MigrationResultSet = await migrator.migrateToLatest();
  if (result.error) {
    const failed = result.results?.find((r) => r.status === 'Error')?.migrationName;
    const msg = result.error instanceof Error ? result.error.message : String(result.error);
    if (!failed) {
      // Nothing ran: usually the database cannot be reached or the user lacks rights.
      throw new SummonError('internal', `cannot open the store: ${msg} (check the store URL, that the database is up and that the user may create tables)`);
    }
    throw new SummonError(
      'internal',
      `store migration ${failed} failed: ${msg} (the schema was left at the last good migration; fix the cause and restart)`,
      { migration: failed },
    );
  }
}
