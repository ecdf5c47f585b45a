// A SQLite store file survives kill -9 of a process that is in the middle of writing:
// the file passes integrity_check and holds every write the process reported committed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { createSqliteStore } from './sqlite.js';

const WRITER = fileURLToPath(new URL('./sqlite-crash-writer.js', import.meta.url));

/**
 * Runs the writer until it has reported `atLeast` committed iterations, then SIGKILLs it.
 * Resolves with the last version it reported and how many iterations it reported.
 */
function writeThenKill(file: string, atLeast: number, deadlineMs: number): Promise<{ last: number; count: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WRITER, file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let count = 0;
    let last = 0;
    let buf = '';
    let stderr = '';
    let killed = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`writer reported only ${last} within ${deadlineMs} ms: ${stderr}`));
    }, deadlineMs);
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const l of lines) {
        last = Number(l);
        count++;
      }
      if (!killed && count >= atLeast) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (!killed) reject(new Error(`writer exited by itself (code ${code}, signal ${signal}): ${stderr}`));
      else if (signal !== 'SIGKILL') reject(new Error(`writer ended with ${signal ?? code}, expected SIGKILL`));
      else resolve({ last, count });
    });
  });
}

test('SQLite file is intact with every reported write after kill -9 mid-write', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'summon-crash-'));
  const file = join(dir, 'summon.db');
  try {
    // Two rounds: the second starts by recovering the WAL the first one left behind.
    for (let round = 0; round < 2; round++) {
      const { last } = await writeThenKill(file, 1500, 60_000);

      const raw = new Database(file);
      try {
        assert.equal(raw.pragma('integrity_check', { simple: true }), 'ok');
        assert.deepEqual(raw.pragma('foreign_key_check'), []);
      } finally {
        raw.close();
      }

      const store = await createSqliteStore(file);
      try {
        const releases = await store.listReleases('crash');
        // Every reported version is there, and versions have no gaps (at most one more
        // commit happened after the last line we read).
        assert.ok(releases.length >= last, `expected at least ${last} releases, found ${releases.length}`);
        assert.ok(releases.length <= last + 1);
        assert.deepEqual(
          releases.map((r) => r.version),
          Array.from({ length: releases.length }, (_, i) => releases.length - i),
        );
        const events = await store.listEvents({ app: 'crash', types: ['crash.iteration'] });
        // The last reported iteration wrote its event. Each earlier round's kill may have
        // landed between an iteration's release and its event, so those rounds can each
        // leave one release without an event (never a reported one).
        assert.ok(events.some((e) => e.data.version === last), `the event of reported version ${last} is stored`);
        assert.ok(events.length >= last - round, `expected at least ${last - round} events, found ${events.length}`);
        const [inst] = await store.listInstances({ app: 'crash' });
        assert.ok(inst && inst.version >= last, `instance row should be at version >= ${last}, is ${inst?.version}`);
      } finally {
        await store.close();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('two processes writing one SQLite file at once get distinct consecutive versions', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'summon-crash-'));
  const file = join(dir, 'summon.db');
  try {
    // Create the schema and the app first, as `summon up` would before other processes join.
    const setup = await createSqliteStore(file);
    await setup.createApp('crash', Date.now());
    await setup.close();

    const [a, b] = await Promise.all([writeThenKill(file, 400, 60_000), writeThenKill(file, 400, 60_000)]);
    const store = await createSqliteStore(file);
    try {
      const versions = (await store.listReleases('crash')).map((r) => r.version);
      assert.ok(versions.length >= a.count + b.count, `expected at least ${a.count + b.count} releases, found ${versions.length}`);
      assert.ok(versions.length >= Math.max(a.last, b.last));
      assert.deepEqual(versions, Array.from({ length: versions.length }, (_, i) => versions.length - i));
      const events = await store.listEvents({ app: 'crash' });
      assert.ok(events.length >= a.count + b.count);
      assert.equal(new Set(events.map((e) => e.id)).size, events.length);
    } finally {
      await store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
