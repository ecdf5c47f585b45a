import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { InvalidInputError } from '../core/errors.js';
import { openStore, parseStoreUrl } from './open.js';

test('parseStoreUrl: sqlite: URLs and plain paths are SQLite files', () => {
  assert.deepEqual(parseStoreUrl('sqlite:/var/lib/summon/summon.db'), { kind: 'sqlite', file: '/var/lib/summon/summon.db' });
  assert.deepEqual(parseStoreUrl('sqlite:///var/lib/summon.db'), { kind: 'sqlite', file: '/var/lib/summon.db' });
  assert.deepEqual(parseStoreUrl('sqlite:data/summon.db'), { kind: 'sqlite', file: 'data/summon.db' });
  assert.deepEqual(parseStoreUrl('/tmp/x.db'), { kind: 'sqlite', file: '/tmp/x.db' });
  assert.deepEqual(parseStoreUrl('./x.db'), { kind: 'sqlite', file: './x.db' });
});

test('parseStoreUrl: postgres:// and postgresql:// are PostgreSQL', () => {
  assert.deepEqual(parseStoreUrl('postgres://u:p@db:5432/summon'), { kind: 'postgres', url: 'postgres://u:p@db:5432/summon' });
  assert.deepEqual(parseStoreUrl('postgresql://db/summon'), { kind: 'postgres', url: 'postgresql://db/summon' });
});

test('parseStoreUrl: anything else is InvalidInputError naming the accepted forms', () => {
  for (const bad of ['mysql://db/x', 'http://x', '', '   ', 'sqlite:']) {
    assert.throws(
      () => parseStoreUrl(bad),
      (e: unknown) => e instanceof InvalidInputError && /sqlite:/.test(e.message) && /postgres:\/\//.test(e.message),
      bad,
    );
  }
});

test('openStore opens a working SQLite store from a sqlite: URL', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'summon-open-'));
  try {
    const file = join(dir, 'a', 'summon.db');
    const s = await openStore(`sqlite:${file}`);
    assert.equal(s.kind, 'sqlite');
    await s.createApp('web', 1);
    await s.close();
    assert.ok(existsSync(file));
    const again = await openStore(file);
    assert.equal((await again.getApp('web'))?.createdAt, 1);
    await again.close();
    await assert.rejects(openStore('redis://x'), InvalidInputError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
