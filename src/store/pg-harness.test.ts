import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { findPostgresBin, startTestPostgres } from './pg-harness.js';

async function canQuery(url: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    await c.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => {});
  }
}

test('findPostgresBin picks an installed server', () => {
  assert.match(findPostgresBin(), /\/usr\/lib\/postgresql\/[\d.]+\/bin$/);
});

test('startTestPostgres runs a server, SUMMON_TEST_PG_URL gives fresh databases in it, stop() ends both', async () => {
  const saved = process.env.SUMMON_TEST_PG_URL;
  delete process.env.SUMMON_TEST_PG_URL;
  const server = await startTestPostgres();
  try {
    assert.ok(await canQuery(server.url));
    process.env.SUMMON_TEST_PG_URL = server.url;
    const a = await startTestPostgres();
    const b = await startTestPostgres();
    assert.notEqual(a.url, b.url);
    assert.ok(await canQuery(a.url));
    assert.ok(await canQuery(b.url));
    await a.stop();
    assert.equal(await canQuery(a.url), false, 'the database is dropped');
    assert.ok(await canQuery(b.url));
    await b.stop();
  } finally {
    if (saved === undefined) delete process.env.SUMMON_TEST_PG_URL;
    else process.env.SUMMON_TEST_PG_URL = saved;
    await server.stop();
  }
  assert.equal(await canQuery(server.url), false, 'the server is stopped');
});
