import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StreamJournal, type JournalEntry } from './stream-journal.js';

test('the journal keeps its id and the last entries across reopenings, compacts itself, and skips a torn line', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'summon-journal-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'stream.journal');
  const first = StreamJournal.open(file, 10);
  assert.deepEqual([first.seq, first.entries], [0, []]);
  const backlog: JournalEntry[] = [];
  for (let seq = 1; seq <= 35; seq++) {
    const e = { seq, frame: `id: ${first.id}:${seq}\nevent: event\ndata: {"n":${seq}}\n\n` };
    backlog.push(e);
    if (backlog.length > 10) backlog.shift();
    first.journal.append(e, () => backlog);
    if (seq % 7 === 0) await first.journal.flush(); // several turns, so compaction has a chance
  }
  await first.journal.flush();
  const lines = (await readFile(file, 'utf8')).trim().split('\n');
  assert.ok(lines.length <= 1 + 2 * 10 + 7, `compacted: ${lines.length} lines`);

  await appendFile(file, '{"seq": 36, "frame": "id: torn'); // a crash while writing
  const again = StreamJournal.open(file, 10);
  assert.equal(again.id, first.id);
  assert.equal(again.seq, 35);
  assert.deepEqual(again.entries.map((e) => e.seq), [26, 27, 28, 29, 30, 31, 32, 33, 34, 35]);
  // What is appended after the torn line is readable again.
  again.journal.append({ seq: 36, frame: 'id: x:36\n\n' }, () => again.entries);
  await again.journal.flush();
  assert.equal(StreamJournal.open(file, 10).seq, 36);
});
