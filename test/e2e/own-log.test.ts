// Summon's own log (pino) from a real `summon up` whose stderr is a pipe: JSON lines on stderr,
// one per named event with its fields, the start-up block on stdout as before; --log-level
// refused when wrong, before anything starts, and silent when asked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { cli, cliJson, exampleRepo, push, startSummonProcess, tempDir } from './harness.js';
import { waitFor } from '../../src/testing/wait.js';

type Line = { level: number; msg: string; type?: string; app?: string | null; data?: Record<string, unknown>; [k: string]: unknown };

/** Every line of `text` as JSON; a line that is not fails the test, naming it. */
function jsonLines(text: string): Line[] {
  return text.split('\n').filter(Boolean).map((l, i) => {
    try {
      return JSON.parse(l) as Line;
    } catch {
      return assert.fail(`stderr line ${i + 1} is not JSON: ${l}`);
    }
  });
}

function looksJson(line: string): boolean {
  try {
    return typeof JSON.parse(line) === 'object';
  } catch {
    return false;
  }
}

test('summon up --log-level debug: JSON lines on stderr, each event once, the start-up block on stdout', async (t) => {
  const root = await tempDir('own-log');
  const s = await startSummonProcess(join(root, 'data'), ['--no-vm', '--log-level', 'debug']);
  t.after(async () => {
    await s.stop();
    await rm(root, { recursive: true, force: true });
  });
  assert.equal((await cli(s, 'apps:create', 'logged')).code, 0);
  const r = await push(s, await exampleRepo('hello-node'), 'logged');
  assert.equal(r.code, 0, r.stderr + r.stdout);

  const live = await waitFor(() => jsonLines(s.stderr()).find((l) => l.type === 'release.live'), { timeoutMs: 10_000, what: 'the release.live line' });
  assert.equal(live.level, 30);
  assert.equal(live.app, 'logged');
  assert.equal(live.data?.version, 1);
  assert.match(live.msg, /^v1 is live/);
  assert.equal(live.name, 'summon up');

  // Once each: the log's lines for the app are exactly the events the store kept for it.
  const key = (type: unknown, msg: unknown) => `${String(type)} ${String(msg)}`;
  const stored = async () => ((await cliJson(s, 'events', '-a', 'logged', '-n', '500', '--json')) as { type: string; message: string }[])
    .map((e) => key(e.type, e.message)).sort();
  const logged = () => jsonLines(s.stderr()).filter((l) => l.app === 'logged' && l.type).map((l) => key(l.type, l.msg)).sort();
  await waitFor(async () => JSON.stringify(await stored()) === JSON.stringify(logged()), {
    timeoutMs: 10_000, intervalMs: 250, what: 'every stored event of the app logged exactly once',
  }).catch(async (e: Error) => assert.fail(`${e.message}\nstored: ${(await stored()).join('\n')}\nlogged: ${logged().join('\n')}`));
  assert.ok(logged().includes(key('app.created', 'app logged created')));

  assert.equal(await s.stop(), 0);
  const lines = jsonLines(s.stderr());
  t.diagnostic(`${lines.length} log lines; events: ${[...new Set(lines.map((l) => l.type).filter(Boolean))].join(', ')}`);
  assert.ok(lines.some((l) => l.msg === 'started' && l.api === s.apiUrl), 'the start is logged with the API URL');
  assert.ok(!s.stderr().includes(s.token), 'the admin token is never logged');
  assert.ok(lines.every((l) => typeof l.time === 'number' && typeof l.level === 'number'));
  // stdout holds the start-up block as before, and no log line.
  const out = s.stdout().split('\n').filter(Boolean);
  assert.equal(out[0], 'Summon is up.');
  assert.match(out[1], /^ {2}API: {5}http:\/\/127\.0\.0\.1:\d+ {3}\(dashboard at http:\/\/127\.0\.0\.1:\d+\/\)$/);
  assert.match(out[2], /^ {2}Router: {2}http:\/\/127\.0\.0\.1:\d+ {3}\(apps at http:\/\/NAME\.localhost:\d+\)$/);
  assert.equal(out[3], `  Token:   ${s.token}`);
  assert.ok(out.some((l) => /^ {2}Data: {4}\S+/.test(l)));
  assert.ok(out.some((l) => /^ {2}Data plane: (HAProxy \d|the Node router) \(--data-plane /.test(l)), 'which data plane runs, and why');
  assert.ok(!out.some(looksJson), `no JSON on stdout:\n${s.stdout()}`);
});

test('--log-level is refused with the flag named, before anything starts', async () => {
  const env = { ...process.env };
  const up = await cli({ env }, 'up', '--log-level', 'bogus', '--data', '/nonexistent/never-created');
  assert.equal(up.code, 2);
  assert.match(up.stderr, /--log-level must be one of trace, debug, info, warn, error, fatal, silent, got "bogus"/);
  const agent = await cli({ env }, 'agent', '--control', 'http://127.0.0.1:9', '--advertise', '127.0.0.1', '--token', 'x'.repeat(32),
    '--log-level', 'verbose', '--data', '/nonexistent/never-created');
  assert.equal(agent.code, 2);
  assert.match(agent.stderr, /--log-level must be one of .*, got "verbose"/);
  assert.equal(existsSync('/nonexistent'), false);
});

test('summon up --log-level silent writes no log lines', async (t) => {
  const root = await tempDir('own-log-silent');
  const s = await startSummonProcess(join(root, 'data'), ['--no-vm', '--log-level', 'silent']);
  t.after(async () => {
    await s.stop();
    await rm(root, { recursive: true, force: true });
  });
  assert.equal((await cli(s, 'apps:create', 'quiet')).code, 0);
  await waitFor(async () => ((await cliJson(s, 'events', '-a', 'quiet', '--json')) as unknown[]).length > 0, { timeoutMs: 10_000, intervalMs: 250, what: 'app.created stored' });
  assert.equal(await s.stop(), 0);
  assert.equal(s.stderr(), '');
  assert.ok(!s.output().split('\n').some(looksJson), s.output());
});
