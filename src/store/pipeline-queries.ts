// The store's queries for pipelines, shared by both dialects (KyselyStore delegates here).
import type { Kysely } from 'kysely';
import { ConflictError } from '../core/errors.js';
import type { Pipeline } from './pipeline-types.js';
import { num } from './rows.js';
import type { Database } from './schema.js';

type Db = Kysely<Database>;

/** Throws ConflictError if the name is taken or an app is in a pipeline already. */
export async function createPipeline(db: Db, p: Pipeline): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const added = await trx.insertInto('pipelines').values({ name: p.name, created_at: p.createdAt })
      .onConflict((oc) => oc.column('name').doNothing()).returning('name').executeTakeFirst();
    if (!added) throw new ConflictError(`a pipeline named ${p.name} exists already`, { pipeline: p.name });
    const taken = await trx.selectFrom('pipeline_stages').select(['app', 'pipeline']).where('app', 'in', p.stages.map((s) => s.app)).executeTakeFirst();
    if (taken) throw new ConflictError(`${taken.app} is in pipeline ${taken.pipeline} already: an app is in one pipeline`, { app: taken.app, pipeline: taken.pipeline });
    await trx.insertInto('pipeline_stages').values(p.stages.map((s, i) => ({ pipeline: p.name, position: i, stage: s.stage, app: s.app }))).execute();
  });
}

export async function listPipelines(db: Db): Promise<Pipeline[]> {
  const heads = await db.selectFrom('pipelines').selectAll().orderBy('name').execute();
  const stages = await db.selectFrom('pipeline_stages').selectAll().orderBy('pipeline').orderBy('position').execute();
  return heads.map((h) => ({
    name: h.name, createdAt: num(h.created_at),
    stages: stages.filter((s) => s.pipeline === h.name).map((s) => ({ stage: s.stage, app: s.app })),
  }));
}

export async function pipelineOf(db: Db, app: string): Promise<Pipeline | undefined> {
  const row = await db.selectFrom('pipeline_stages').select('pipeline').where('app', '=', app).executeTakeFirst();
  if (!row) return undefined;
  return (await listPipelines(db)).find((p) => p.name === row.pipeline);
}

export async function deletePipeline(db: Db, name: string): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    await trx.deleteFrom('pipeline_stages').where('pipeline', '=', name).execute();
    const r = await trx.deleteFrom('pipelines').where('name', '=', name).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  });
}
