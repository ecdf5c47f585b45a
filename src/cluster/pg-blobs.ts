// Artifacts in PostgreSQL, so every control-plane node can start every release: a blob is
// stored in 1 MiB chunks (blob_chunks) under its sha256, with its size and chunk count (blobs)
// written in the same transaction, so a blob row means every chunk is there. A node that lacks
// a blob locally reads the chunks in order into a temp file, and the node's BlobStore keeps it
// only if its sha256 is the one asked for (BlobStore.put with expect). The leader stores a
// release's artifact (and initrd) here before it rolls the release out: a release never goes
// live on a blob only one node has.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type pg from 'pg';
import type { BlobStore } from '../artifacts/blob-store.js';
import { SummonError } from '../core/errors.js';

export const CHUNK_BYTES = 1024 * 1024;

export class PgBlobs {
  /** Fetches under way, one per digest. */
  private readonly fetching = new Map<string, Promise<void>>();

  constructor(private readonly pool: pg.Pool, private readonly local: BlobStore) {}

  async has(sha256: string): Promise<boolean> {
    const r = await this.pool.query('select 1 from blobs where sha256 = $1', [sha256]);
    return r.rows.length > 0;
  }

  /** Stores the local blob `sha256` in the database (a no-op when it is there already). */
  async upload(sha256: string): Promise<void> {
    if (await this.has(sha256)) return;
    const file = this.local.path(sha256);
    const c = await this.pool.connect();
    try {
      await c.query('begin');
      // Two nodes storing one blob at once: the second waits here, then finds it stored.
      await c.query('select pg_advisory_xact_lock(hashtext($1))', [`blob:${sha256}`]);
      if ((await c.query('select 1 from blobs where sha256 = $1', [sha256])).rows.length > 0) {
        await c.query('commit');
        return;
      }
      const hash = createHash('sha256');
      let seq = 0;
      let size = 0;
      for await (const chunk of createReadStream(file, { highWaterMark: CHUNK_BYTES })) {
        const buf = chunk as Buffer;
        hash.update(buf);
        size += buf.length;
        await c.query('insert into blob_chunks (sha256, seq, data) values ($1, $2, $3)', [sha256, seq++, buf]);
      }
      const got = hash.digest('hex');
      if (got !== sha256) throw new SummonError('conflict', `the local blob ${sha256.slice(0, 12)}… has sha256 ${got.slice(0, 12)}…: not stored in the database`);
      await c.query('insert into blobs (sha256, size, chunks) values ($1, $2, $3)', [sha256, size, seq]);
      await c.query('commit');
    } catch (e) {
      await c.query('rollback').catch(() => undefined);
      throw e;
    } finally {
      c.release();
    }
  }

  /** Makes sure the local BlobStore has `sha256`, fetching it from the database when it does not. */
  async ensure(sha256: string): Promise<void> {
    if (await this.local.has(sha256)) return;
    let p = this.fetching.get(sha256);
    if (!p) {
      p = this.fetch(sha256).finally(() => this.fetching.delete(sha256));
      this.fetching.set(sha256, p);
    }
    return p;
  }

  /** Fetches again even if a local copy is there (one found altered before a start). */
  async refetch(sha256: string): Promise<void> {
    await this.fetch(sha256);
  }

  private async fetch(sha256: string): Promise<void> {
    const meta = await this.pool.query<{ size: string; chunks: number }>('select size, chunks from blobs where sha256 = $1', [sha256]);
    if (meta.rows.length === 0) throw new SummonError('not_found', `artifact ${sha256.slice(0, 12)}… is in neither this node's blob store nor the database`);
    const { chunks } = meta.rows[0];
    const tmpDir = join(this.local.dir, 'tmp');
    await mkdir(tmpDir, { recursive: true });
    const tmp = join(tmpDir, `pg-${process.pid}-${randomBytes(6).toString('hex')}`);
    const out = await open(tmp, 'wx', 0o600);
    try {
      try {
        // A few chunks per query: bounded memory, few round trips.
        for (let seq = 0; seq < chunks; seq += 8) {
          const r = await this.pool.query<{ data: Buffer }>(
            'select data from blob_chunks where sha256 = $1 and seq >= $2 and seq < $3 order by seq', [sha256, seq, seq + 8]);
          if (r.rows.length !== Math.min(8, chunks - seq)) throw new SummonError('internal', `artifact ${sha256.slice(0, 12)}… is missing chunks in the database`);
          for (const row of r.rows) await out.write(row.data);
        }
      } finally {
        await out.close();
      }
      // Kept only if its bytes are that digest.
      await this.local.put(tmp, { expect: sha256 });
    } finally {
      await rm(tmp, { force: true });
    }
  }
}
