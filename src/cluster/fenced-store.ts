// The store the leader's reconcile loops write through: each write of theirs runs in one
// transaction that first checks the lease (lease.ts fence: holder, epoch, not expired, the row
// share-locked) and then makes the write with the same KyselyStore code on that transaction.
// A deposed leader's write fails with FencedError and changes nothing. Reads, and the writes
// the loops do not make, go to the node's store as they are.
import { sql, type Kysely } from 'kysely';
import { KyselyStore } from '../store/kysely-store.js';
import type { Database } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { FencedError } from './lease.js';

/** The writes of the controller (and of what it drives) that are fenced. None of them opens a
 *  transaction of its own (a nested one is refused by kysely). */
export const FENCED_WRITES = ['updateApp', 'updateRelease', 'putInstance', 'deleteInstance', 'addUsage', 'putHost'] as const;

export async function fenceIn(trx: Kysely<Database>, node: string, epoch: number): Promise<void> {
  const r = await sql<{ one: number }>`select 1 as one from cluster_lease where name = 'leader' and holder = ${node}
    and epoch = ${epoch} and expires_at > now() for share`.execute(trx);
  if (r.rows.length === 0) throw new FencedError(node, epoch);
}

/** Runs `fn` in a transaction that holds the fence for `node` at `epoch()` (read when it starts). */
export async function fenced<T>(db: Kysely<Database>, node: string, epoch: () => number, fn: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
  const e = epoch();
  return db.transaction().execute(async (trx) => {
    await fenceIn(trx, node, e);
    return fn(trx);
  });
}

export function fencedStore(base: Store, db: Kysely<Database>, node: string, epoch: () => number): Store {
  const writes = new Set<string>(FENCED_WRITES);
  return new Proxy(base, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof prop !== 'string' || !writes.has(prop) || typeof v !== 'function') {
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      }
      return (...args: unknown[]) => fenced(db, node, epoch, (trx) => {
        const inTrx = new KyselyStore({ db: trx, kind: 'postgres' }) as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
        return inTrx[prop](...args);
      });
    },
  });
}
