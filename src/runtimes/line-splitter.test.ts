import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { once } from 'node:events';
import { forEachLine } from './line-splitter.js';

test('splits lines across chunks, drops CR of CRLF, keeps the unterminated tail', async () => {
  const s = new PassThrough();
  const lines: string[] = [];
  forEachLine(s, (l) => lines.push(l));
  s.write('one\ntw');
  s.write('o\r\nthree\n\nfo');
  s.end('ur');
  await once(s, 'end');
  assert.deepEqual(lines, ['one', 'two', 'three', '', 'four']);
});

test('a line longer than the limit is passed on in pieces rather than held forever', async () => {
  const s = new PassThrough();
  const lines: string[] = [];
  forEachLine(s, (l) => lines.push(l), 8);
  s.write('0123456789abcdef');
  s.end('-more\nok\n');
  await once(s, 'end');
  assert.deepEqual(lines, ['0123456789abcdef', '-more', 'ok']);
});
