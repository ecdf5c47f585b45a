// The agent protocol stream under a control plane that stops reading: dropped at the bound,
// while a control plane that reads gets every message, and a long backlog goes out at the
// reader's pace without tripping the bound.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Instance } from '../core/types.js';
import type { SseDrop } from '../core/sse-writer.js';
import { ProcessRuntime } from '../runtimes/process/process-runtime.js';
import { scaled, waitFor } from '../testing/wait.js';
import { Agent } from './agent.js';
import { AgentServer, type AgentServerOptions } from './agent-server.js';
import { RemoteAgent } from './remote-agent.js';

const tinyApp = fileURLToPath(new URL('../../../test/fixtures/tiny-app.mjs', import.meta.url));
const TOKEN = 'ak_test-token-of-some-length';
const LINE = 'x'.repeat(4000);

async function startHost(t: { after: (fn: () => Promise<void>) => void }, opts: Partial<AgentServerOptions> = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'summon-agent-server-'));
  const drops: SseDrop[] = [];
  const server = new AgentServer({ token: TOKEN, host: '127.0.0.1', port: 0, heartbeatMs: 60_000, onStreamDropped: (d) => drops.push(d), ...opts });
  const agent = new Agent({
    hostId: 'edge', dataDir: dir, runtimes: [new ProcessRuntime({ stateDir: dir })], artifactPath: () => tinyApp,
    ...server.callbacks(),
  });
  server.attach(agent);
  await agent.start();
  const { port } = await server.listen();
  t.after(async () => {
    await server.close();
    await agent.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { server, port, drops };
}

/** Opens /v1/stream and reads nothing after the response head. */
function stalledStream(port: number, after?: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const path = `/v1/stream${after ? `?after=${after}` : ''}`;
    const s = net.connect(port, '127.0.0.1', () => s.write(`GET ${path} HTTP/1.1\r\nHost: agent\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`));
    s.once('data', () => {
      s.pause();
      resolve(s);
    });
    s.on('error', reject);
  });
}

const tick = () => new Promise((r) => setImmediate(r));

test('a control plane that stops reading is dropped; one that reads gets every line', async (t) => {
  const { server, port, drops } = await startHost(t);
  const stalled = await stalledStream(port);
  t.after(() => stalled.destroy());
  const lines: string[] = [];
  const remote = new RemoteAgent({
    hostId: 'edge', url: `http://127.0.0.1:${port}`, token: TOKEN,
    onStatus: () => {}, onEvent: () => {}, onConsole: (_app, _instance, line) => lines.push(line),
  });
  t.after(() => remote.close());
  await remote.start();
  await waitFor(() => server.streamCount === 2, { timeoutMs: 5000, what: 'both streams open' });

  // 40 MB of console lines, 256 KiB per turn of the event loop (as an instance's output arrives).
  const total = 10_000;
  let publishedAtDrop = -1;
  for (let n = 1; n <= total; n++) {
    server.publish({ kind: 'console', app: 'demo', instance: 'demo-1', line: `${n} ${LINE}`, stream: 'stdout' });
    if (publishedAtDrop < 0 && drops.length > 0) publishedAtDrop = n;
    if (n % 64 === 0) await tick();
  }
  await waitFor(() => server.streamCount === 1, { timeoutMs: 5000, what: 'the stalled stream to be dropped' });
  assert.equal(drops.length, 1);
  assert.equal(drops[0].reason, 'buffer');
  t.diagnostic(`stalled stream dropped holding ${drops[0].bufferedBytes} bytes, after ${publishedAtDrop} of ${total} lines`);
  // What the agent held for it: never more than twice the 1 MiB bound (plus a frame)…
  assert.ok(drops[0].bufferedBytes <= 2 * 1024 * 1024 + 8192, `held ${drops[0].bufferedBytes} bytes`);
  // …and it was let go early in the burst, not after buffering it (the kernel takes ~4 MB).
  assert.ok(publishedAtDrop > 0 && publishedAtDrop * LINE.length < 16 * 1024 * 1024, `dropped after ${publishedAtDrop} lines`);

  await waitFor(() => lines.length === total, { timeoutMs: 20_000, what: `all ${total} lines at the reading control plane (${lines.length})` });
  assert.ok(lines.every((l, i) => l.startsWith(`${i + 1} `)), 'every line, in order, once');
  assert.equal(remote.link().state, 'connected', 'the reading control plane was never dropped');
});

test('a long backlog is sent at the reader\'s pace; statuses published meanwhile follow it', async (t) => {
  const { server, port, drops } = await startHost(t, { backlog: 5000 });
  // 20 MB of backlog, published with nobody connected.
  for (let n = 1; n <= 5000; n++) server.publish({ kind: 'console', app: 'demo', instance: 'demo-1', line: `${n} ${LINE}`, stream: 'stdout' });

  let text = '';
  let frames = 0;
  let statusAt = -1;
  const ended = new Promise<void>((resolve, reject) => {
    // A cursor from another boot: the whole backlog is owed.
    http.get({ host: '127.0.0.1', port, path: '/v1/stream?after=elsewhere:1', headers: { authorization: `Bearer ${TOKEN}` }, agent: false }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
        let end: number;
        while ((end = text.indexOf('\n\n')) !== -1) {
          const frame = text.slice(0, end);
          text = text.slice(end + 2);
          if (frame.includes('event: console')) frames++;
          if (frame.includes('event: status')) statusAt = frames;
        }
      });
      res.on('end', resolve);
      res.on('error', reject);
    }).on('error', reject);
  });
  await waitFor(() => frames > 0, { timeoutMs: 5000, what: 'the backlog to start' });
  const instance = { id: 'demo-1', app: 'demo', version: 1, host: 'edge', state: 'healthy', address: '127.0.0.1', port: 1, pid: 1, startedAt: 1, healthyAt: 1, restarts: 0, reason: null, nextRetryAt: null, cpu: null, memoryBytes: null, updatedAt: 1 } satisfies Instance;
  server.publish({ kind: 'status', instance });
  await waitFor(() => frames === 5000 && statusAt >= 0, { timeoutMs: 20_000, what: `the whole backlog and the status (${frames})` });
  assert.equal(statusAt, 5000, 'the status came after the backlog it was published during');
  assert.equal(drops.length, 0, 'a reader that keeps reading is never dropped for a long backlog');
  await server.close();
  await ended;
});

test('a stalled control plane given a long backlog is dropped without the backlog piling up', async (t) => {
  const { server, port, drops } = await startHost(t, { backlog: 5000, sse: { drainTimeoutMs: scaled(500) } });
  for (let n = 1; n <= 5000; n++) server.publish({ kind: 'console', app: 'demo', instance: 'demo-1', line: `${n} ${LINE}`, stream: 'stdout' });
  const stalled = await stalledStream(port, 'elsewhere:1');
  t.after(() => stalled.destroy());
  // Paced at 64 KiB, a stalled reader only ever waits for room: the drain deadline ends it.
  await waitFor(() => drops.length === 1, { timeoutMs: 30_000, what: 'the stalled replay to be dropped' });
  assert.equal(drops[0].reason, 'drain_timeout');
  assert.ok(drops[0].bufferedBytes <= 64 * 1024 + 8192, `held ${drops[0].bufferedBytes} bytes`);
  await waitFor(() => server.streamCount === 0, { timeoutMs: 5000, what: 'no stream left' });
});
