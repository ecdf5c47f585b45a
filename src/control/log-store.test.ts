import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LogStore } from './log-store.js';

test('keeps each app within its byte budget, oldest dropped first, and survives a reload', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'summon-logs-'));
  try {
    const logs = new LogStore({ dir, maxBytesPerApp: 10_000 });
    const seen: string[] = [];
    const off = logs.subscribe('a', (l) => seen.push(l.text));
    for (let i = 0; i < 1000; i++) logs.append('a', 'app', 'a-1', `line ${i}`);
    logs.append('b', 'summon', 'deploy', 'other app');
    off();
    logs.append('a', 'app', 'a-2', 'after unsubscribe');
    assert.equal(seen.length, 1000);
    const kept = logs.query('a');
    assert.ok(logs.memoryBytes() <= 10_000 + 100, `memory ${logs.memoryBytes()}`);
    assert.ok(kept.length > 50 && kept.length < 1001);
    assert.equal(kept.at(-1)!.text, 'after unsubscribe');
    assert.equal(kept.at(-2)!.text, 'line 999');
    assert.deepEqual(logs.query('a', { instance: 'a-2' }).map((l) => l.text), ['after unsubscribe']);
    assert.deepEqual(logs.query('b', { source: 'summon' }).map((l) => l.text), ['other app']);
    assert.equal(logs.query('a', { limit: 3 }).length, 3);
    await logs.flush();
    const again = new LogStore({ dir, maxBytesPerApp: 10_000 });
    await again.load(['a', 'b']);
    assert.equal(again.query('a').at(-1)!.text, 'after unsubscribe');
    assert.equal(again.query('b')[0].text, 'other app');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
