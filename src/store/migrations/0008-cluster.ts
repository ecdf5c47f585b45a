// Several control-plane nodes on one PostgreSQL (src/cluster/): the nodes and their heartbeats,
// the one leader lease (holder, epoch: the fence every write of the reconcile loops checks in
// its own transaction), the routes the leader publishes for every node's data plane, artifacts
// kept in the database (chunked, with their sha256) so every node can serve every release, and
// one lock row per app that serialises pushes across nodes. SQLite is one machine: nothing here.
import { sql, type Kysely, type Migration } from 'kysely';
import type { StoreKind } from './index.js';

export function clusterMigration(kind: StoreKind): Migration {
  return {
    async up(db: Kysely<any>): Promise<void> {
      if (kind !== 'postgres') return;
      await sql`create table cluster_nodes (
        id text primary key,
        api_url text not null,
        router_url text not null,
        agent_url text,
        version text not null,
        started_at timestamptz not null,
        seen_at timestamptz not null,
        stats jsonb not null default '{}'::jsonb
      )`.execute(db);
      await sql`create table cluster_lease (
        name text primary key,
        holder text not null,
        epoch bigint not null,
        since timestamptz not null,
        expires_at timestamptz not null
      )`.execute(db);
      await sql`create table cluster_routes (
        app text primary key,
        route jsonb,
        epoch bigint not null,
        updated_at timestamptz not null default now()
      )`.execute(db);
      await sql`create table blobs (
        sha256 text primary key,
        size bigint not null,
        chunks integer not null,
        created_at timestamptz not null default now()
      )`.execute(db);
      await sql`create table blob_chunks (
        sha256 text not null,
        seq integer not null,
        data bytea not null,
        primary key (sha256, seq)
      )`.execute(db);
      await sql`create table push_locks (
        app text primary key
      )`.execute(db);
    },
    async down(db: Kysely<any>): Promise<void> {
      if (kind !== 'postgres') return;
      for (const t of ['push_locks', 'blob_chunks', 'blobs', 'cluster_routes', 'cluster_lease', 'cluster_nodes']) {
        await db.schema.dropTable(t).ifExists().execute();
      }
    },
  };
}
