// The PostgreSQL store, for several control-plane nodes sharing one database.
import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';
import { InvalidInputError } from '../core/errors.js';
import { KyselyStore } from './kysely-store.js';
import type { Database as Schema } from './schema.js';
import type { Store } from './store.js';

export interface PostgresStoreOptions {
  /** Most connections this node opens (default 10). */
  poolSize?: number;
  /** How long to wait for a connection before failing (ms, default 10000). */
  connectTimeoutMs?: number;
}

export async function createPostgresStore(connectionString: string, options: PostgresStoreOptions = {}): Promise<Store> {
  if (typeof connectionString !== 'string' || !/^postgres(ql)?:\/\//.test(connectionString)) {
    throw new InvalidInputError('PostgreSQL store: pass a connection URL like postgres://user:password@host:5432/summon');
  }
  const poolSize = options.poolSize ?? 10;
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  if (!Number.isInteger(poolSize) || poolSize < 1) {
    throw new InvalidInputError(`PostgreSQL store: poolSize must be a positive integer, got ${String(poolSize)}`);
  }
  if (!Number.isInteger(connectTimeoutMs) || connectTimeoutMs < 1) {
    throw new InvalidInputError(`PostgreSQL store: connectTimeoutMs must be a positive integer, got ${String(connectTimeoutMs)}`);
  }
  const pool = new pg.Pool({ connectionString, max: poolSize, connectionTimeoutMillis: connectTimeoutMs });
  // An idle client whose server went away emits 'error' on the pool; unhandled, that
  // would crash the process. The pool drops that client and the next query reconnects
  // or fails with the real cause, so there is nothing more to do here.
  pool.on('error', () => {});
  const db = new Kysely<Schema>({ dialect: new PostgresDialect({ pool }) });
  return KyselyStore.open({ db, kind: 'postgres' });
}
