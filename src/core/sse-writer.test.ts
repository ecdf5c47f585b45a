import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { InvalidInputError } from './errors.js';
import { SSE_DEFAULTS, SseWriter, sseLimits, type SseDrop, type SseWriterOptions } from './sse-writer.js';
import { scaled, waitFor } from '../testing/wait.js';

interface Served {
  writer: SseWriter;
  res: http.ServerResponse;
  closed: boolean;
  drops: SseDrop[];
}

/** A server whose every request becomes an SSE stream held in `streams`. */
async function sseServer(t: { after: (fn: () => Promise<void>) => void }, opts: SseWriterOptions = {}): Promise<{ port: number; streams: Served[] }> {
  const streams: Served[] = [];
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const s: Served = { res, closed: false, drops: [], writer: undefined as unknown as SseWriter };
    s.writer = new SseWriter(res, { ...opts, onDrop: (d) => s.drops.push(d) });
    res.on('close', () => (s.closed = true));
    s.writer.write(': connected\n\n');
    streams.push(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { port: (server.address() as AddressInfo).port, streams };
}

/** A client that sends its request and then never reads past the first bytes. */
function stalledClient(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\nHost: test\r\n\r\n'));
    s.once('data', () => {
      s.pause();
      resolve(s);
    });
    s.on('error', reject);
  });
}

/** A client that reads everything and counts the `data:` frames it was sent. */
function readingClient(port: number): { frames: () => number; lastData: () => string; ended: Promise<void> } {
  let frames = 0;
  let last = '';
  let rest = '';
  const ended = new Promise<void>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        const parts = (rest + chunk).split('\n\n');
        rest = parts.pop() ?? '';
        for (const p of parts) {
          if (p.includes('data: ')) {
            frames++;
            last = p;
          }
        }
      });
      res.on('end', resolve);
      res.on('error', reject);
    }).on('error', reject);
  });
  return { frames: () => frames, lastData: () => last, ended };
}

const tick = () => new Promise((r) => setImmediate(r));

test('a client that stops reading is dropped at the bound; one that reads gets every frame', async (t) => {
  const { port, streams } = await sseServer(t);
  const stalled = await stalledClient(port);
  t.after(() => stalled.destroy());
  const reader = readingClient(port);
  await waitFor(() => streams.length === 2, { timeoutMs: 5000, what: 'both clients connected' });
  const [slow, fast] = streams;

  // 40 MB in 256 KiB per turn of the event loop, the way log lines arrive from instances.
  const frame = (n: number) => `id: ${n}\ndata: ${String(n).padEnd(4000, '.')}\n\n`;
  const total = 10_240;
  let maxBuffered = 0;
  for (let n = 1; n <= total; n++) {
    for (const s of streams) {
      s.writer.write(frame(n));
      maxBuffered = Math.max(maxBuffered, s.res.writableLength);
    }
    if (n % 64 === 0) await tick();
  }
  await waitFor(() => slow.closed, { timeoutMs: 5000, what: 'the stalled stream to be closed' });
  assert.equal(slow.writer.open, false);
  assert.equal(slow.drops.length, 1);
  assert.equal(slow.drops[0].reason, 'buffer');
  assert.ok(slow.drops[0].bufferedBytes > SSE_DEFAULTS.maxBufferedBytes);
  t.diagnostic(`stalled client dropped holding ${slow.drops[0].bufferedBytes} bytes; most held for any client ${maxBuffered} bytes`);
  // Never more than twice the bound (plus one frame) held for any client.
  assert.ok(maxBuffered <= 2 * SSE_DEFAULTS.maxBufferedBytes + 4096, `held ${maxBuffered} bytes for one client`);

  assert.equal(fast.writer.open, true);
  fast.writer.end();
  await reader.ended;
  assert.equal(reader.frames(), total, 'the reading client got every frame');
  assert.equal(fast.drops.length, 0);
});

test('a stream whose client takes nothing for drainTimeoutMs is ended, with its last frame when it fits', async (t) => {
  const drainTimeoutMs = scaled(300);
  const { port, streams } = await sseServer(t, {
    maxBufferedBytes: 256 * 1024 * 1024,
    drainTimeoutMs,
    dropFrame: (d) => `event: dropped\ndata: ${JSON.stringify({ message: d.message })}\n\n`,
  });
  const stalled = await stalledClient(port);
  t.after(() => stalled.destroy());
  await waitFor(() => streams.length === 1, { timeoutMs: 5000, what: 'the client connected' });
  const [s] = streams;
  // More than the kernel's socket buffers take, so write() reports a full buffer; far less
  // than the byte bound, so only the drain timeout can end it.
  const chunk = `data: ${'x'.repeat(64 * 1024)}\n\n`;
  for (let i = 0; i < 256 && s.res.writableLength < 1024 * 1024; i++) {
    s.writer.write(chunk);
    await tick();
  }
  assert.ok(s.res.writableNeedDrain, 'the socket buffer is full');
  await waitFor(() => s.drops.length === 1, { timeoutMs: drainTimeoutMs * 10, what: 'the drain timeout' });
  assert.equal(s.drops[0].reason, 'drain_timeout');
  assert.match(s.drops[0].message, /^dropped for reading too slowly: its connection took no data for \d+ ms/);
  assert.equal(s.writer.write(chunk), false, 'a dropped stream takes no more');

  // Reading now, the client gets everything up to the last frame, which says why.
  let text = '';
  stalled.setEncoding('utf8');
  stalled.on('data', (c: string) => (text += c));
  stalled.resume();
  await waitFor(() => text.includes('event: dropped') || s.closed, { timeoutMs: 5000, what: 'the last frame or the close' });
  if (!text.includes('event: dropped')) {
    // Under heavy load the writer's own deadline may cut the client off first; it still closes.
    assert.ok(s.closed);
  } else {
    assert.match(text, /event: dropped\r?\ndata: \{"message":"dropped for reading too slowly/);
  }
  await waitFor(() => s.closed, { timeoutMs: drainTimeoutMs * 10, what: 'the stream to close' });
});

test('room() paces a long backlog at the client\'s speed and gives false once the stream closes', async (t) => {
  const { port, streams } = await sseServer(t);
  const reader = readingClient(port);
  await waitFor(() => streams.length === 1, { timeoutMs: 5000, what: 'the client connected' });
  const [s] = streams;
  // 20 MB with no turn of the event loop between writes but for room(): never dropped.
  const frame = `data: ${'y'.repeat(8000)}\n\n`;
  let maxBuffered = 0;
  for (let i = 0; i < 2500; i++) {
    assert.equal(await s.writer.room(), true);
    s.writer.write(frame);
    maxBuffered = Math.max(maxBuffered, s.res.writableLength);
  }
  assert.ok(maxBuffered <= 64 * 1024 + frame.length + 16, `held ${maxBuffered} bytes`);
  s.writer.end();
  await reader.ended;
  assert.equal(reader.frames(), 2500);
  assert.equal(await s.writer.room(), false);
});

test('bounds are checked when a writer is configured', () => {
  assert.deepEqual(sseLimits(), { maxBufferedBytes: 1024 * 1024, drainTimeoutMs: 10_000 });
  assert.throws(() => sseLimits({ maxBufferedBytes: 10 }), InvalidInputError);
  assert.throws(() => sseLimits({ drainTimeoutMs: 0 }), /drainTimeoutMs must be a number of milliseconds/);
});
