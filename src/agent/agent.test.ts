// The agent with the real process runtime: it heals what crashes or turns unhealthy, and it
// keeps its desired set on disk so a restarted agent resumes it with no control plane at all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Instance } from '../core/types.js';
import type { InstanceSpec, Runtime } from '../runtimes/runtime.js';
import { ProcessRuntime } from '../runtimes/process/process-runtime.js';
import { httpGet, waitFor } from '../testing/wait.js';
import { Agent, type AgentEvent, type DesiredInstance } from './agent.js';

const tinyApp = fileURLToPath(new URL('../../../test/fixtures/tiny-app.mjs', import.meta.url));

function desired(id: string, env: Record<string, string> = {}): DesiredInstance {
  return {
    id, app: 'demo', version: 1, target: 'process', artifactSha256: 'x', initrdSha256: null,
    args: ['--port', '{port}'], env, guestPort: 8080, memoryBytes: 64 << 20,
    health: { kind: 'http', path: '/healthy', intervalMs: 100, timeoutMs: 500, healthyThreshold: 1, unhealthyThreshold: 2, graceMs: 10_000 },
  };
}

function makeAgent(dataDir: string, statuses: Map<string, Instance>, events: AgentEvent[]): Agent {
  return new Agent({
    hostId: 'h1', dataDir, runtimes: [new ProcessRuntime({ stateDir: dataDir })],
    artifactPath: () => tinyApp,
    onStatus: (i) => statuses.set(i.id, i),
    onConsole: () => {},
    onEvent: (e) => events.push(e),
    statsIntervalMs: 200,
  });
}

test('agent heals, and resumes its desired set after a restart', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'summon-agent-'));
  const statuses = new Map<string, Instance>();
  const events: AgentEvent[] = [];
  let agent = makeAgent(dir, statuses, events);
  t.after(async () => {
    await agent.close();
    await rm(dir, { recursive: true, force: true });
  });
  await agent.start();
  const flag = join(dir, 'unhealthy');
  await agent.setDesired([desired('demo-a'), desired('demo-b', { UNHEALTHY_FILE: flag })]);
  const healthy = (id: string) => waitFor(() => {
    const s = statuses.get(id);
    return s?.state === 'healthy' ? s : undefined;
  }, { timeoutMs: 10_000, what: `${id} healthy` });
  const a = await healthy('demo-a');
  await healthy('demo-b');
  assert.equal((await httpGet(`http://127.0.0.1:${a.port}/`)).status, 200);

  await t.test('a killed instance is restarted at once', async () => {
    process.kill(a.pid!, 'SIGKILL');
    await waitFor(() => events.some((e) => e.type === 'instance.crashed' && e.instance === 'demo-a'), { timeoutMs: 5000, what: 'the crash event' });
    const again = await healthy('demo-a');
    assert.notEqual(again.pid, a.pid);
    assert.equal(again.restarts, 1);
    assert.match(events.find((e) => e.type === 'instance.crashed')!.message, /killed by SIGKILL/);
  });

  await t.test('an instance failing its checks is replaced, with the check as the reason', async () => {
    await writeFile(flag, '');
    await waitFor(() => events.some((e) => e.type === 'instance.unhealthy' && e.instance === 'demo-b'), { timeoutMs: 5000, what: 'unhealthy' });
    const ev = events.find((e) => e.type === 'instance.unhealthy')!;
    assert.match(ev.message, /GET \/healthy → 500/);
    await rm(flag);
    const b = await healthy('demo-b');
    assert.ok(b.restarts >= 1);
  });

  await t.test('stats are sampled', async () => {
    const s = await waitFor(() => (statuses.get('demo-a')?.memoryBytes ? statuses.get('demo-a') : undefined), { timeoutMs: 5000, what: 'stats' });
    assert.ok(s.memoryBytes! > 1 << 20);
    assert.ok(s.cpu !== null && s.cpu >= 0);
  });

  await t.test('a new agent on the same data dir resumes the desired set without a control plane', async () => {
    const before = statuses.get('demo-a')!.pid!;
    await agent.close({ stopInstances: false });
    statuses.clear();
    agent = makeAgent(dir, statuses, events);
    await agent.start();
    const resumed = await healthy('demo-a');
    await healthy('demo-b');
    assert.notEqual(resumed.pid, before, 'the old process was cleaned up and a new one started');
    assert.throws(() => process.kill(before, 0), 'the leftover is gone');
    assert.deepEqual(agent.desiredSet().map((d) => d.id).sort(), ['demo-a', 'demo-b']);
  });

  await t.test('an empty desired set stops everything', async () => {
    const pids = agent.instances().map((i) => i.pid!);
    await agent.setDesired([]);
    assert.deepEqual(agent.instances(), []);
    for (const pid of pids) assert.throws(() => process.kill(pid, 0));
    assert.equal(statuses.get('demo-a')?.state, 'stopped');
  });
});

/** A runtime whose start() waits at a gate, to hold a launch in flight deterministically. */
class GatedRuntime implements Runtime {
  readonly target = 'process' as const;
  readonly running = new Set<string>();
  private open!: () => void;
  readonly gate = new Promise<void>((r) => (this.open = r));
  private entered!: () => void;
  readonly startEntered = new Promise<void>((r) => (this.entered = r));
  release(): void { this.open(); }
  async capability() { return { target: 'process' as const, available: true, reason: 'test' }; }
  async start(spec: InstanceSpec) {
    this.entered();
    await this.gate;
    this.running.add(spec.id);
    return { pid: null, address: '127.0.0.1', port: spec.hostPort };
  }
  async stop(id: string) { this.running.delete(id); }
  inspect(id: string) { return { running: this.running.has(id), pid: null, exitCode: null, signal: null }; }
  async stats() { return undefined; }
  onExit() {}
  async recover() { return []; }
}

test('regression: an instance removed while it is being launched is not left running', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'summon-agent-gate-'));
  const rt = new GatedRuntime();
  const agent = new Agent({
    hostId: 'h1', dataDir: dir, runtimes: [rt], artifactPath: () => tinyApp,
    onStatus: () => {}, onConsole: () => {}, onEvent: () => {},
  });
  try {
    await agent.start();
    await agent.setDesired([desired('demo-brief')]);
    await rt.startEntered; // the launch is now inside runtime.start()
    const removing = agent.setDesired([]);
    rt.release();
    await removing;
    await new Promise((r) => setImmediate(r));
    assert.deepEqual([...rt.running], [], 'the launch that was in flight was stopped');
  } finally {
    await agent.close();
    await rm(dir, { recursive: true, force: true });
  }
});
