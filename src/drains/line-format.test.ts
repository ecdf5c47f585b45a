import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LogLine } from '../control/log-store.js';
import { OctetFrameReader, parseSyslogMessage } from './frame-reader.js';
import { jsonLine, MAX_SYSLOG_MESSAGE_BYTES, SyslogFormatter, syslogFrame, syslogMessage } from './line-format.js';

const AT = Date.UTC(2026, 10, 22, 9, 30, 1, 234);
const appLine: LogLine = { seq: 1, at: AT, app: 'blog', source: 'app', proc: 'blog-fa9a74207b', text: 'GET / 200 1.2ms' };
const summonLine: LogLine = { seq: 2, at: AT, app: 'blog', source: 'summon', proc: 'release', text: 'v3 is live' };

test('app lines: APP-NAME the app, PROCID the instance, MSGID "app", the time the line happened', () => {
  assert.equal(syslogMessage(appLine, 'host1'), '<14>1 2026-11-22T09:30:01.234Z host1 blog blog-fa9a74207b app - GET / 200 1.2ms');
});

test("Summon's lines: PROCID and MSGID \"summon\", the component as structured data", () => {
  assert.equal(syslogMessage(summonLine, 'host1'), '<13>1 2026-11-22T09:30:01.234Z host1 blog summon summon [summon@32473 component="release"] v3 is live');
  const odd = syslogMessage({ ...summonLine, proc: 'a"b]c\\d' }, 'host 1');
  assert.match(odd, / host_1 /, 'header fields are PRINTUSASCII only');
  assert.match(odd, /component="a\\"b\\]c\\\\d"/, 'PARAM-VALUE escapes " ] \\');
  assert.equal(syslogMessage({ ...appLine, text: '' }, ''), '<14>1 2026-11-22T09:30:01.234Z - blog blog-fa9a74207b app -');
});

test('octet counting counts bytes, and a receiver reads frames split anywhere', () => {
  const lines = [appLine, { ...appLine, text: 'héllo wörld ✓ 🚀' }, summonLine, { ...appLine, text: 'x'.repeat(3000) }];
  const frames = lines.map((l) => syslogFrame(l, 'h'));
  for (const f of frames) {
    const [len, ...rest] = f.data.split(' ');
    assert.equal(Number(len), Buffer.byteLength(rest.join(' ')));
    assert.equal(f.bytes, Buffer.byteLength(f.data));
  }
  const wire = Buffer.from(frames.map((f) => f.data).join(''));
  for (const step of [1, 3, 7, 64, wire.length]) {
    const got: string[] = [];
    const r = new OctetFrameReader((m) => got.push(m));
    for (let i = 0; i < wire.length; i += step) r.push(wire.subarray(i, i + step));
    assert.deepEqual(got.map((m) => parseSyslogMessage(m)!.msg), lines.map((l) => l.text), `chunks of ${step}`);
  }
  const f = parseSyslogMessage(syslogMessage(summonLine, 'h'))!;
  assert.deepEqual([f.pri, f.appName, f.procId, f.msgId, f.structuredData, f.msg], [13, 'blog', 'summon', 'summon', '[summon@32473 component="release"]', 'v3 is live']);
  assert.throws(() => new OctetFrameReader(() => undefined).push(Buffer.from('<14>1 2026… not framed')), /not an octet-counted frame/);
});

test('a message past 8 KiB is cut at a character boundary', () => {
  const long = syslogMessage({ ...appLine, text: 'é'.repeat(10_000) }, 'h');
  assert.ok(Buffer.byteLength(long) <= MAX_SYSLOG_MESSAGE_BYTES);
  assert.ok(Buffer.byteLength(long) > MAX_SYSLOG_MESSAGE_BYTES - 2);
  assert.ok(!long.includes('\uFFFD'), 'no broken character');
});

test('HTTPS lines are one JSON object each, instance or component by source', () => {
  const a = jsonLine(appLine);
  assert.ok(a.data.endsWith('\n'));
  assert.equal(a.bytes, Buffer.byteLength(a.data));
  assert.deepEqual(JSON.parse(a.data), { at: AT, time: '2026-11-22T09:30:01.234Z', app: 'blog', source: 'app', instance: 'blog-fa9a74207b', text: 'GET / 200 1.2ms' });
  assert.deepEqual(JSON.parse(jsonLine(summonLine).data), { at: AT, time: '2026-11-22T09:30:01.234Z', app: 'blog', source: 'summon', component: 'release', text: 'v3 is live' });
});

test('one formatter for many lines: the per-instance fields it keeps never leak between lines', () => {
  const f = new SyslogFormatter('host1');
  const lines: LogLine[] = [appLine, summonLine, { ...appLine, proc: 'blog-other00000' }, { ...summonLine, proc: 'blog-fa9a74207b' }, { ...appLine, app: 'shop' }, appLine];
  for (const l of lines) assert.deepEqual(f.frame(l), syslogFrame(l, 'host1'));
});
