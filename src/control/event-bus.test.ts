import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSqliteStore } from '../store/sqlite.js';
import { createLogger } from '../logging/logger.js';
import { EventBus } from './event-bus.js';
import { LogStore } from './log-store.js';

/** An EventBus whose logger writes JSON lines into `lines`. */
async function setup(t: { after(f: () => Promise<void>): void }, now = () => 1_700_000_000_000) {
  const dir = await mkdtemp(join(tmpdir(), 'summon-event-bus-'));
  const store = await createSqliteStore(join(dir, 'summon.db'));
  let closed = false;
  t.after(async () => {
    if (!closed) await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  const lines: string[] = [];
  const logger = createLogger({ level: 'info', destination: { write: (s: string) => void lines.push(s) } });
  const events = new EventBus({ store, logs: new LogStore({ dir: join(dir, 'logs') }), now, logger });
  const parsed = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { store, events, lines, parsed, closeStore: async () => { closed = true; await store.close(); } };
}

test('an emitted event is one JSON log line with its fields, however many subscribers it has', async (t) => {
  const { events, lines, parsed } = await setup(t);
  const seen: string[] = [];
  events.subscribe((e) => seen.push(`a:${e.type}`));
  events.subscribe((e) => seen.push(`b:${e.type}`));
  const e = await events.emit('blog', 'release.live', 'v3 is live', { version: 3 });
  assert.equal(e?.type, 'release.live');
  assert.deepEqual(seen, ['a:release.live', 'b:release.live']);
  assert.equal(lines.length, 1);
  assert.ok(lines[0].endsWith('\n') && !lines[0].slice(0, -1).includes('\n'), 'one line');
  const [line] = parsed();
  assert.equal(line.level, 30); // info
  assert.equal(line.type, 'release.live');
  assert.equal(line.app, 'blog');
  assert.equal(line.msg, 'v3 is live');
  assert.deepEqual(line.data, { version: 3 });
  assert.equal(line.eventAt, undefined, 'an event reported as it happens carries no second time');
});

test('failures are logged at warn; host events have app null', async (t) => {
  const { events, parsed } = await setup(t);
  await events.emit('blog', 'release.failed', 'v4 failed: tests failed', { version: 4 });
  await events.emit('blog', 'instance.crashed', 'blog-1 exited 1', { instance: 'blog-1', restarts: 1 });
  await events.emit(null, 'host.unreachable', 'edge1 did not answer', { host: 'edge1' });
  await events.emit('blog', 'webhook.failed', 'webhook w1 gave up', { webhook: 'w1' });
  await events.emit('blog', 'scale.max', 'at max', {});
  assert.deepEqual(parsed().map((l) => [l.type, l.level, l.app]), [
    ['release.failed', 40, 'blog'],
    ['instance.crashed', 40, 'blog'],
    ['host.unreachable', 40, null],
    ['webhook.failed', 40, 'blog'],
    ['scale.max', 30, 'blog'],
  ]);
});

test('an event reported late says when it happened', async (t) => {
  const now = 1_700_000_060_000;
  const { events, parsed } = await setup(t, () => now);
  await events.emit('blog', 'instance.stopped', 'stopped blog-1', {}, now - 60_000);
  assert.equal(parsed()[0].eventAt, new Date(now - 60_000).toISOString());
});

test('a subscriber that throws is logged at warn, and the others still hear the event', async (t) => {
  const { events, parsed } = await setup(t);
  let heard = 0;
  events.subscribe(() => {
    throw new Error('subscriber bug');
  });
  events.subscribe(() => void heard++);
  await events.emit('blog', 'app.created', 'app blog created');
  assert.equal(heard, 1);
  const [event, warn] = parsed();
  assert.equal(event.type, 'app.created');
  assert.equal(warn.level, 40);
  assert.equal(warn.msg, 'an event subscriber threw');
  assert.equal((warn.err as { message: string }).message, 'subscriber bug');
});

test('an event the store cannot take is logged at error; emit still resolves', async (t) => {
  const { events, parsed, closeStore } = await setup(t);
  await closeStore();
  assert.equal(await events.emit('blog', 'app.created', 'app blog created'), undefined);
  const [event, error] = parsed();
  assert.equal(event.type, 'app.created');
  assert.equal(error.level, 50);
  assert.equal(error.msg, 'event not stored');
  assert.equal(error.type, 'app.created');
  assert.ok(typeof (error.err as { message?: string }).message === 'string');
});
