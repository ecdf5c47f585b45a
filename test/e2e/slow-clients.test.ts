// Regression: one `summon logs --tail` that stopped reading during a log burst grew Summon
// from 120 to 579 MB, because the API buffered everything the client had not taken. Now a
// stalled stream is dropped at its bound while a client that reads gets every line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSummon, type RunningSummon } from '../../src/server.js';
import { SummonClient, type LogLine } from '../../src/sdk/client.js';
import { waitFor } from '../../src/testing/wait.js';

/** Opens `path` on the API and reads nothing after the response head. */
function stalledClient(s: RunningSummon, path: string): Promise<net.Socket> {
  const url = new URL(s.apiUrl);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(url.port), url.hostname, () => {
      sock.write(`GET ${path} HTTP/1.1\r\nHost: summon\r\nAuthorization: Bearer ${s.token}\r\n\r\n`);
    });
    sock.once('data', (head: Buffer) => {
      sock.pause();
      if (!head.toString('latin1').startsWith('HTTP/1.1 200')) reject(new Error(`GET ${path}: ${head.toString('latin1').split('\r\n')[0]}`));
      else resolve(sock);
    });
    sock.on('error', reject);
  });
}

test('a logs --tail that stops reading is dropped at its bound; one that reads gets every line', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'summon-slow-clients-'));
  const s = await startSummon({ dataDir, apiPort: 0, routerPort: 0 });
  t.after(async () => {
    await s.stop();
    await rm(dataDir, { recursive: true, force: true });
  });
  const client = new SummonClient({ api: s.apiUrl, token: s.token });
  await client.createApp('slow');

  const stalled = await stalledClient(s, '/api/apps/slow/logs/stream?limit=1');
  t.after(() => stalled.destroy());

  const got: LogLine[] = [];
  const ac = new AbortController();
  const tail = client.tailLogs('slow', { source: 'app', limit: 1 }, (l) => got.push(l), ac.signal);
  t.after(() => ac.abort());
  // The reading tail is subscribed once a line written now reaches it.
  s.logs.append('slow', 'app', 'slow-0', 'hello');
  await waitFor(() => got.some((l) => l.text === 'hello'), { timeoutMs: 5000, what: 'the reading tail to connect' });
  got.length = 0;

  // 40 MB of app output, 64 lines per turn of the event loop, as instances' output arrives.
  const text = 'x'.repeat(4000);
  const total = 10_000;
  let droppedAt = -1;
  const dropped = async () => (await s.store.listEvents({ types: ['api.stream_dropped'], limit: 10 })).filter((e) => String(e.data.path).includes('/logs/stream'));
  for (let n = 1; n <= total; n++) {
    s.logs.append('slow', 'app', 'slow-1', `${n} ${text}`);
    if (n % 64 === 0) {
      await new Promise((r) => setImmediate(r));
      if (droppedAt < 0 && n % 640 === 0 && (await dropped()).length > 0) droppedAt = n;
    }
  }
  const [drop] = await waitFor(async () => {
    const d = await dropped();
    return d.length > 0 ? d : undefined;
  }, { timeoutMs: 10_000, what: 'the stalled logs stream to be dropped' });
  if (droppedAt < 0) droppedAt = total;
  const buffered = Number(drop.data.bufferedBytes);
  t.diagnostic(`stalled logs stream dropped holding ${buffered} bytes, after ${droppedAt} of ${total} lines (${Math.round((droppedAt * text.length) / 1e6)} MB)`);
  assert.equal(drop.data.reason, 'buffer');
  assert.ok(buffered > 1024 * 1024 && buffered <= 2 * 1024 * 1024 + 64 * 1024, `held ${buffered} bytes for the stalled client`);
  assert.ok(droppedAt * text.length < 24 * 1024 * 1024, `dropped only after ${droppedAt} lines`);
  assert.match(drop.message, /dropped for reading too slowly/);

  await waitFor(() => got.length === total, { timeoutMs: 30_000, what: `every line at the reading tail (${got.length} of ${total})` });
  assert.ok(got.every((l, i) => l.text.startsWith(`${i + 1} `)), 'every line, in order, once');
  ac.abort();
  await tail;

  // The history a tail starts with (here the app's whole in-memory log, ~4 MB) goes out at the
  // client's pace: more than one tick may hold, yet the client is not dropped for it.
  const history = s.logs.query('slow', { source: 'app' });
  assert.ok(history.reduce((n, l) => n + l.text.length, 0) > 3 * 1024 * 1024, 'a history larger than one tick may hold');
  const got2: LogLine[] = [];
  const ac2 = new AbortController();
  const tail2 = client.tailLogs('slow', { source: 'app', limit: 10_000 }, (l) => got2.push(l), ac2.signal);
  t.after(() => ac2.abort());
  await waitFor(() => got2.length === history.length, { timeoutMs: 10_000, what: `the whole history (${got2.length} of ${history.length})` });
  assert.deepEqual(got2.map((l) => l.seq), history.map((l) => l.seq));
  ac2.abort();
  await tail2;
  assert.equal((await dropped()).length, 1, 'only the stalled client was dropped');
});
