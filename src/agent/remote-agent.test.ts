// The agent protocol end to end on loopback: a real Agent (process runtime, tiny app) behind
// an AgentServer, driven by a RemoteAgent as the controller would drive it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Instance } from '../core/types.js';
import { ProcessRuntime } from '../runtimes/process/process-runtime.js';
import { freePort } from './ports.js';
import { waitFor } from '../testing/wait.js';
import { Agent, type AgentEvent, type DesiredInstance } from './agent.js';
import { AgentServer } from './agent-server.js';
import { RemoteAgent, type RemoteAgentOptions } from './remote-agent.js';
import { loadOrMakeAgentCert } from './agent-tls.js';

const tinyApp = fileURLToPath(new URL('../../../test/fixtures/tiny-app.mjs', import.meta.url));
/** The agent checks the artifact against this before every start. */
const tinySha = createHash('sha256').update(readFileSync(tinyApp)).digest('hex');
const TOKEN = 'ak_test-token-of-some-length';

function desired(id: string): DesiredInstance {
  return {
    id, app: 'demo', version: 1, target: 'process', artifactSha256: tinySha, initrdSha256: null,
    args: ['--port', '{port}'], env: {}, guestPort: 8080, memoryBytes: 64 << 20,
    health: { kind: 'http', path: '/healthy', intervalMs: 100, timeoutMs: 500, healthyThreshold: 1, unhealthyThreshold: 2, graceMs: 10_000 },
  };
}

async function startHost(dir: string, port: number, journal?: string): Promise<{ agent: Agent; server: AgentServer; stop: () => Promise<void> }> {
  const server = new AgentServer({ token: TOKEN, host: '127.0.0.1', port, heartbeatMs: 100, ...(journal ? { journal } : {}) });
  const agent = new Agent({
    hostId: 'edge', dataDir: dir, runtimes: [new ProcessRuntime({ stateDir: dir })], artifactPath: () => tinyApp,
    ...server.callbacks(),
  });
  server.attach(agent);
  await agent.start();
  await server.listen();
  return { agent, server, stop: async () => {
    await server.close();
    await agent.close({ stopInstances: false });
  } };
}

test('the agent protocol: desired sets, status and events, a dropped link and its return', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'summon-remote-'));
  const port = await freePort();
  let host = await startHost(dir, port);
  const statuses = new Map<string, Instance>();
  const events: AgentEvent[] = [];
  // Every link this test opens is closed when it ends, on every path: a link left open
  // reconnects forever once the agent is gone, and the file never exits.
  const links = new Set<RemoteAgent>();
  const link = (o: Partial<RemoteAgentOptions>): RemoteAgent => {
    const r = new RemoteAgent({ hostId: 'edge', url: `http://127.0.0.1:${port}`, token: TOKEN, onStatus: () => {}, onEvent: () => {}, onConsole: () => {}, ...o });
    links.add(r);
    return r;
  };
  const remote = link({ silenceMs: 1000, maxRetryMs: 200, onStatus: (i) => statuses.set(i.id, i), onEvent: (e) => events.push(e) });
  t.after(async () => {
    for (const r of links) r.close();
    await host.agent.close();
    await host.server.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  await remote.start();
  assert.equal(remote.link().state, 'connected');
  assert.equal(remote.offers('process'), true);
  assert.equal(remote.offers('qemu'), false);

  await remote.setDesired([desired('demo-a')]);
  const a = await waitFor(() => (statuses.get('demo-a')?.state === 'healthy' ? statuses.get('demo-a') : undefined), { timeoutMs: 10_000, what: 'demo-a healthy, told over the stream' });
  assert.ok(events.some((e) => e.type === 'instance.healthy' && e.instance === 'demo-a'));
  assert.deepEqual(remote.instances().map((i) => i.id), ['demo-a']);

  await t.test('the link drops: unreachable, and the desired set given meanwhile is sent on return', async () => {
    await host.stop(); // the agent process goes away; its instance keeps running on the host
    await waitFor(() => remote.link().state === 'unreachable', { timeoutMs: 5000, what: 'the link to be seen down' });
    assert.match(remote.link().error ?? '', /./);
    await remote.setDesired([desired('demo-a'), desired('demo-b')]); // queued, not lost
    host = await startHost(dir, port);
    await waitFor(() => remote.link().state === 'connected', { timeoutMs: 5000, what: 'the link back' });
    await waitFor(() => statuses.get('demo-b')?.state === 'healthy', { timeoutMs: 10_000, what: 'demo-b, sent after the reconnect' });
    assert.deepEqual(host.agent.desiredSet().map((d) => d.id).sort(), ['demo-a', 'demo-b']);
    assert.ok(a);
  });

  await t.test('a control plane that was away hears, from its saved cursor, what it missed and only that', async () => {
    // From here on the test plays the control plane itself. The first link must go: on every
    // reconnect it sends its own desired set (the control plane's view wins), which stopped
    // demo-d below whenever demo-d took longer to become healthy than that link took to
    // reconnect after the agent's restart (regression: "timed out waiting for demo-d healthy").
    remote.close();
    const cursorFile = join(dir, 'edge.cursor');
    const seen1: AgentEvent[] = [];
    const first = link({ cursorFile, onEvent: (e) => seen1.push(e) });
    await first.start();
    await host.agent.setDesired([desired('demo-a'), desired('demo-b'), desired('demo-c')]);
    await waitFor(() => seen1.some((e) => e.type === 'instance.healthy' && e.instance === 'demo-c'), { timeoutMs: 10_000, what: 'demo-c healthy' });
    first.close(); // saves its cursor
    const away = Date.now();
    await host.agent.setDesired([desired('demo-a'), desired('demo-b')]); // demo-c stops while nobody listens
    await waitFor(() => host.agent.instances().length === 2, { timeoutMs: 10_000, what: 'demo-c stopped' });
    const seen2: AgentEvent[] = [];
    const second = link({ cursorFile, onEvent: (e) => seen2.push(e) });
    await second.start();
    const stopped = await waitFor(() => seen2.find((e) => e.type === 'instance.stopped' && e.instance === 'demo-c'), { timeoutMs: 5000, what: 'the stop replayed' });
    assert.ok(stopped.at !== undefined && stopped.at >= away, 'replayed with the time it happened');
    assert.ok(!seen2.some((e) => e.type === 'instance.healthy' && e.instance === 'demo-c'), 'nothing from before the cursor again');
    second.close();
  });

  await t.test('with a journal, what was missed outlives a restart of the agent too', async () => {
    const journal = join(dir, 'stream.journal');
    const cursorFile = join(dir, 'edge2.cursor');
    await host.stop();
    host = await startHost(dir, port, journal);
    const seen1: AgentEvent[] = [];
    const first = link({ cursorFile, onEvent: (e) => seen1.push(e) });
    await first.start();
    await host.agent.setDesired([desired('demo-a'), desired('demo-b'), desired('demo-d')]);
    await waitFor(() => seen1.some((e) => e.type === 'instance.healthy' && e.instance === 'demo-d'), { timeoutMs: 10_000, what: 'demo-d healthy' });
    first.close();
    await host.agent.setDesired([desired('demo-a'), desired('demo-b')]); // demo-d stops with nobody listening…
    await waitFor(() => host.agent.instances().length === 2, { timeoutMs: 10_000, what: 'demo-d stopped' });
    await host.stop(); // …and then the agent itself restarts
    host = await startHost(dir, port, journal);
    const seen2: AgentEvent[] = [];
    const second = link({ cursorFile, onEvent: (e) => seen2.push(e) });
    await second.start();
    await waitFor(() => seen2.find((e) => e.type === 'instance.stopped' && e.instance === 'demo-d'), { timeoutMs: 5000, what: 'the stop from before the restart, replayed' });
    assert.ok(!seen2.some((e) => e.type === 'instance.healthy' && e.instance === 'demo-d'), 'nothing from before the cursor again');
    second.close();
  });

  await t.test('over TLS: the agent\'s own certificate, pinned by its fingerprint, and nothing else', async () => {
    const cert = await loadOrMakeAgentCert(join(dir, 'tls'), 'edge');
    assert.match(cert.fingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    assert.equal((await loadOrMakeAgentCert(join(dir, 'tls'), 'edge')).fingerprint, cert.fingerprint, 'made once, then kept');
    const tlsPort = await freePort();
    const server = new AgentServer({ token: TOKEN, host: '127.0.0.1', port: tlsPort, tls: { key: cert.key, cert: cert.cert } });
    server.attach(host.agent);
    await server.listen();
    try {
      const seen: Instance[] = [];
      const pinned = link({ url: `https://127.0.0.1:${tlsPort}#sha256=${cert.fingerprint}`, connectTimeoutMs: 5000, onStatus: (i) => seen.push(i) });
      await pinned.start();
      assert.equal(pinned.link().state, 'connected', pinned.link().error);
      assert.ok(pinned.instances().length > 0);
      pinned.close();
      const other = cert.fingerprint.replace(/^../, cert.fingerprint.startsWith('00') ? '11' : '00');
      const impostor = link({ url: `https://127.0.0.1:${tlsPort}#sha256=${other}`, connectTimeoutMs: 5000 });
      await impostor.start();
      impostor.close();
      assert.equal(impostor.link().state, 'unreachable');
      assert.match(impostor.link().error ?? '', /not the pinned .*refusing to send it the token/);
      assert.throws(() => new RemoteAgent({ hostId: 'edge', url: `https://127.0.0.1:${tlsPort}`, token: TOKEN, onStatus: () => {}, onEvent: () => {}, onConsole: () => {} }), /must pin the agent's certificate/);
    } finally {
      await server.close();
    }
  });

  await t.test('a wrong token and a wrong host id are refused with what to do', async () => {
    const bad = link({ token: 'ak_wrong-token-but-long', connectTimeoutMs: 2000 });
    await bad.start();
    bad.close();
    assert.equal(bad.link().state, 'unreachable');
    assert.match(bad.link().error ?? '', /401.*agent token/);
    const other = link({ hostId: 'edge2', connectTimeoutMs: 2000 });
    await other.start();
    other.close();
    assert.match(other.link().error ?? '', /is host "edge", not "edge2"/);
    assert.throws(() => new AgentServer({ token: 'short', host: '127.0.0.1', port: 0 }), /at least 16 characters/);
    // A malformed desired set is refused at the door, naming what is wrong; nothing changes.
    const before = host.agent.desiredSet().length;
    const res = await fetch(`http://127.0.0.1:${port}/v1/desired`, {
      method: 'PUT', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ instances: [{ ...desired('demo-z'), artifactSha256: '../../etc/passwd' }] }),
    });
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error: { message: string } }).error.message, /desired set: instances\.0\.artifactSha256/);
    assert.equal(host.agent.desiredSet().length, before);
  });
});
