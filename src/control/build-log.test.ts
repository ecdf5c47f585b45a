import assert from 'node:assert/strict';
import test from 'node:test';
import { BuildLog } from './build-log.js';

test('a log within the bound is kept whole, line for line', () => {
  const log = new BuildLog(4096);
  for (const l of ['-----> Building', 'gcc -O2 main.c', '-----> Released v1']) log.add(l);
  assert.equal(log.text(), '-----> Building\ngcc -O2 main.c\n-----> Released v1\n');
  assert.equal(log.truncated, false);
  assert.equal(log.bytes, log.text().length);
});

test('past the bound, the start and the end are kept and the cut is said', () => {
  const log = new BuildLog(2048);
  for (let i = 0; i < 1000; i++) log.add(`line ${String(i).padStart(4, '0')} ${'x'.repeat(20)}`);
  const text = log.text();
  assert.equal(log.truncated, true);
  assert.ok(Buffer.byteLength(text) <= 2048 + 200, `kept ${Buffer.byteLength(text)} bytes`);
  assert.match(text, /^line 0000 /);
  assert.match(text, /line 0999 x+\n$/);
  const m = /\[… (\d+) lines \((\d+) bytes\) cut/.exec(text);
  assert.ok(m, text);
  const kept = text.split('\n').filter((l) => l.startsWith('line ')).length;
  assert.equal(kept + Number(m[1]), 1000, 'every line is either kept or counted as cut');
  assert.equal(log.bytes, 1000 * 31);
});

test('an empty build keeps an empty log; a bound below 1 KiB is refused', () => {
  assert.equal(new BuildLog().text(), '');
  assert.throws(() => new BuildLog(10), /max must be a whole number of bytes ≥ 1024/);
});
