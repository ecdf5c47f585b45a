// A joined host's link on loopback: a real Agent (process runtime, tiny app) behind an
// AgentServer that never listens, reached by a RemoteAgent whose HTTP connections are streams
// of one WebSocket (tunnel.ts), as control/joined-hosts.ts drives it; and a stream to a TCP
// port on the other side, as the router reaches an instance.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';
import type { Instance } from '../core/types.js';
import { ProcessRuntime } from '../runtimes/process/process-runtime.js';
import { waitFor } from '../testing/wait.js';
import { Agent, type DesiredInstance } from './agent.js';
import { AgentServer } from './agent-server.js';
import { RemoteAgent } from './remote-agent.js';
import { Tunnel } from './tunnel.js';

const tinyApp = fileURLToPath(new URL('../../../test/fixtures/tiny-app.mjs', import.meta.url));
const tinySha = createHash('sha256').update(readFileSync(tinyApp)).digest('hex');

function desired(id: string): DesiredInstance {
  return {
    id, app: 'demo', version: 1, target: 'process', artifactSha256: tinySha, initrdSha256: null,
    args: ['--port', '{port}'], env: {}, guestPort: 8080, memoryBytes: 64 << 20,
    health: { kind: 'http', path: '/healthy', intervalMs: 100, timeoutMs: 500, healthyThreshold: 1, unhealthyThreshold: 2, graceMs: 10_000 },
  };
}

test('the agent protocol over a tunnel: desired set, statuses, a dropped link and its return; a stream to an instance port', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'summon-tunnel-'));
  const server = new AgentServer({ token: 'tunnel-only-token-xxxxxxxx', host: '127.0.0.1', port: 0, heartbeatMs: 100 });
  const agent = new Agent({ hostId: 'edge', dataDir: dir, runtimes: [new ProcessRuntime({ stateDir: dir })], artifactPath: () => tinyApp, ...server.callbacks() });
  server.attach(agent);
  await agent.start();
  // The control plane's side: a WebSocket server; the agent dials it.
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((r) => wss.once('listening', r));
  const port = (wss.address() as net.AddressInfo).port;
  let cpTunnel: Tunnel | null = null;
  const statuses = new Map<string, Instance>();
  const remote = new RemoteAgent({
    hostId: 'edge', url: 'https://edge.joined', token: 'tunneled', silenceMs: 2000,
    dial: () => (cpTunnel?.open ? cpTunnel.openStream() : null),
    onStatus: (i) => statuses.set(i.id, i), onEvent: () => {}, onConsole: () => {},
  });
  wss.on('connection', (ws) => {
    cpTunnel = new Tunnel(ws, 'agent');
    cpTunnel.onClose((why) => remote.linkDown(why));
    remote.kick();
  });
  let agentWs: WebSocket | null = null;
  const dial = (): void => {
    agentWs = new WebSocket(`ws://127.0.0.1:${port}`);
    agentWs.on('open', () => new Tunnel(agentWs!, 'control plane', (s, p) => {
      if (p === undefined) return server.acceptTunnel(s);
      const sock = net.connect({ host: '127.0.0.1', port: p });
      s.pipe(sock).pipe(s);
      sock.on('error', () => s.destroy());
    }));
  };
  t.after(async () => {
    remote.close();
    agentWs?.terminate();
    wss.close();
    await server.close();
    await agent.close({ stopInstances: true });
    await rm(dir, { recursive: true, force: true });
  });

  await remote.start();
  assert.equal(remote.link().state, 'unreachable');
  assert.match(remote.link().error ?? '', /has not dialed in/);
  dial();
  await waitFor(() => remote.link().state === 'connected', { timeoutMs: 10_000, what: 'the link up' });
  assert.equal(remote.link().url, undefined, 'a tunneled host has no URL of its own');
  await remote.setDesired([desired('demo-t1')]);
  const up = await waitFor(() => (statuses.get('demo-t1')?.state === 'healthy' ? statuses.get('demo-t1') : undefined), { timeoutMs: 20_000, what: 'the instance healthy, heard over the tunnel' });

  // A stream to the instance's port on the agent's side answers HTTP.
  const body = await new Promise<string>((resolve, reject) => {
    const s = cpTunnel!.openStream(up.port!);
    let text = '';
    s.on('data', (c: Buffer) => (text += c.toString()));
    s.on('end', () => resolve(text));
    s.on('error', reject);
    s.end('GET /healthy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  });
  assert.match(body, /^HTTP\/1\.1 200/);

  // The link drops: the host is unreachable; the agent keeps its instance; it dials again and
  // the control plane's set is sent anew.
  agentWs!.terminate();
  await waitFor(() => remote.link().state === 'unreachable', { timeoutMs: 10_000, what: 'the drop noticed' });
  assert.match(remote.link().error ?? '', /link (closed|failed)|dropped/);
  assert.equal(agent.instances().find((i) => i.id === 'demo-t1')?.state, 'healthy');
  dial();
  await waitFor(() => remote.link().state === 'connected', { timeoutMs: 10_000, what: 'the link back' });
  assert.deepEqual(remote.reportedDesired().map((d) => d.id), ['demo-t1']);
  await remote.setDesired([]);
  await waitFor(() => agent.instances().length === 0, { timeoutMs: 10_000, what: 'the instance stopped on the new set' });
});
