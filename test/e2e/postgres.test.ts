// Summon on a real PostgreSQL server instead of the embedded SQLite file: the same push,
// and the same recovery after kill -9, with all state in PostgreSQL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { rm } from 'node:fs/promises';
import pg from 'pg';
import { startTestPostgres } from '../../src/store/pg-harness.js';
import { cli, exampleRepo, push, startSummonProcess, tempDir, viaRouter, type SummonProcess } from './harness.js';
import { waitFor } from '../../src/testing/wait.js';

test('summon up --store postgres://…', async (t) => {
  const pgs = await startTestPostgres();
  const root = await tempDir('pg');
  let s: SummonProcess = await startSummonProcess(join(root, 'data'), ['--store', pgs.url]);
  t.after(async () => {
    await s.stop();
    await pgs.stop();
    await rm(root, { recursive: true, force: true });
  });

  assert.equal((await cli(s, 'apps:create', 'pgapp')).code, 0);
  const r = await push(s, await exampleRepo('hello-node'), 'pgapp');
  assert.equal(r.code, 0, r.stderr);
  assert.equal((await viaRouter(s, 'pgapp')).status, 200);

  const client = new pg.Client({ connectionString: pgs.url });
  await client.connect();
  try {
    const rows = (await client.query('select * from releases')).rows;
    assert.equal(rows.length, 1, 'the release is stored in PostgreSQL');
  } finally {
    await client.end();
  }

  await s.kill9();
  s = await startSummonProcess(join(root, 'data'), ['--store', pgs.url]);
  const back = await waitFor(async () => {
    const res = await viaRouter(s, 'pgapp');
    return res.status === 200 ? res : undefined;
  }, { timeoutMs: 20_000, what: 'the app back after restart' });
  assert.match(back.body, /v1/);

  const bad = await startSummonProcess(join(root, 'data2'), ['--store', 'mysql://nope']).then(
    () => assert.fail('an unsupported store URL must be refused'),
    (e: Error) => e,
  );
  assert.match(bad.message, /postgres:\/\//);
});
