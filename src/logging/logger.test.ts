import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger, LOG_LEVELS, parseLogLevel } from './logger.js';
import { SummonError } from '../core/errors.js';

function sink(): { lines: string[]; destination: { write(s: string): void } } {
  const lines: string[] = [];
  return { lines, destination: { write: (s) => void lines.push(s) } };
}

test('--log-level takes pino\'s levels and refuses anything else, naming the flag', () => {
  for (const l of LOG_LEVELS) assert.equal(parseLogLevel(l), l);
  for (const bad of ['bogus', 'INFO', '', undefined, 30]) {
    assert.throws(() => parseLogLevel(bad), (e: unknown) => e instanceof SummonError && e.code === 'invalid_input' &&
      /^--log-level must be one of trace, debug, info, warn, error, fatal, silent, got /.test(e.message));
  }
  assert.throws(() => parseLogLevel('loud', 'SUMMON_LOG_LEVEL'), { message: /^SUMMON_LOG_LEVEL must be one of/ });
});

test('JSON lines at and above the level; silent writes nothing', () => {
  const s = sink();
  const log = createLogger({ level: 'warn', name: 'summon up', destination: s.destination });
  log.info('not shown');
  log.warn({ app: 'blog' }, 'shown');
  log.error({ err: new Error('boom') }, 'with an error');
  const lines = s.lines.map((l) => JSON.parse(l) as Record<string, any>);
  assert.deepEqual(lines.map((l) => [l.level, l.msg, l.name]), [[40, 'shown', 'summon up'], [50, 'with an error', 'summon up']]);
  assert.equal(lines[0].app, 'blog');
  assert.equal(lines[1].err.message, 'boom');
  assert.match(lines[1].err.stack, /Error: boom/);

  const quiet = sink();
  const silent = createLogger({ level: 'silent', destination: quiet.destination });
  silent.fatal('nothing');
  assert.deepEqual(quiet.lines, []);
});

test('pretty lines are for people: no JSON', async () => {
  const chunks: string[] = [];
  const { Writable } = await import('node:stream');
  const out = new Writable({ write(c, _e, cb) { chunks.push(String(c)); cb(); } });
  const log = createLogger({ level: 'info', pretty: true, destination: out as never });
  log.warn({ app: 'blog' }, 'readable');
  const text = chunks.join('');
  assert.match(text, /WARN.*readable/);
  assert.throws(() => JSON.parse(text));
});
