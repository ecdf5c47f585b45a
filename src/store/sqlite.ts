// The embedded store: one SQLite file, one connection (kysely serializes queries on it).
// WAL + synchronous=NORMAL: a committed write survives a crash of the process (kill -9);
// only a power loss may drop the last few commits, never corrupt the file.
//
// Open one SQLite store per file per process. Two connections to one file in the same
// process can stall each other for busy_timeout, because better-sqlite3 waits for locks
// synchronously on the only thread. Separate processes are fine.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { InvalidInputError } from '../core/errors.js';
import { KyselyStore } from './kysely-store.js';
import type { Database as Schema } from './schema.js';
import type { Store } from './store.js';

export interface SqliteStoreOptions {
  /** How long a write waits for another process's lock before failing (ms). */
  busyTimeoutMs?: number;
}

export async function createSqliteStore(file: string, options: SqliteStoreOptions = {}): Promise<Store> {
  if (typeof file !== 'string' || file.length === 0) {
    throw new InvalidInputError('SQLite store: a database file path is required (e.g. /var/lib/summon/summon.db)');
  }
  const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
  if (!Number.isInteger(busyTimeoutMs) || busyTimeoutMs < 0) {
    throw new InvalidInputError(`SQLite store: busyTimeoutMs must be a non-negative integer, got ${String(busyTimeoutMs)}`);
  }
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const sqlite = new Database(file, { timeout: busyTimeoutMs });
  try {
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma(`busy_timeout = ${busyTimeoutMs}`);
    sqlite.pragma('foreign_keys = ON');
  } catch (e) {
    sqlite.close();
    throw e;
  }
  // Kysely's destroy() closes the better-sqlite3 handle.
  const db = new Kysely<Schema>({ dialect: new SqliteDialect({ database: sqlite }) });
  return KyselyStore.open({ db, kind: 'sqlite' });
}
