// The agent with the real process runtime: it heals what crashes or turns unhealthy, and it
// keeps its desired set on disk so a restarted agent resumes it with no control plane at all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
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
/** The agent checks the artifact against this before every start. */
const tinySha = createHash('sha256').update(readFileSync(tinyApp)).digest('hex');

function desired(id: string, env: Record<string, string> = {}): DesiredInstance {
  return {
    id, app: 'demo', version: 1, target: 'process', artifactSha256: tinySha, initrdSha256: null,
    args: ['--port', '{port}'], env, guestPort: 8080, memoryBytes: 64 << 20,
    health: { kind: 'http', path: '/healthy', intervalMs: 100, timeoutMs: 500, healthyThreshold: 1, unhealthyThreshold: 2, graceMs: 10_000 },
  };
}

function makeAgent(dataDir: string, statuses: Map<string, Instance>, events: AgentEvent[], lines: string[] = []): Agent {
  return new Agent({
    hostId: 'h1', dataDir, runtimes: [new ProcessRuntime({ stateDir: dataDir })],
    artifactPath: () => tinyApp,
    onStatus: (i) => statuses.set(i.id, i),
    onConsole: (_app, instance, line) => lines.push(`${instance}: ${line}`),
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

  await t.test('a new agent on the same data dir adopts the running instances (same pid and port) and reads their console again', async () => {
    const before = statuses.get('demo-a')!;
    await agent.close({ stopInstances: false });
    // The instance outlives the agent, and keeps answering (and logging) while none is there.
    assert.equal((await httpGet(`http://127.0.0.1:${before.port}/while-away`)).status, 200);
    statuses.clear();
    const lines: string[] = [];
    agent = makeAgent(dir, statuses, events, lines);
    await agent.start();
    const resumed = await healthy('demo-a');
    await healthy('demo-b');
    assert.equal(resumed.pid, before.pid, 'adopted, not started again');
    assert.equal(resumed.port, before.port);
    assert.equal(resumed.restarts, 0);
    assert.deepEqual(agent.desiredSet().map((d) => d.id).sort(), ['demo-a', 'demo-b']);
    // The line written while no agent read is there, and new ones come through the new agent.
    assert.equal((await httpGet(`http://127.0.0.1:${resumed.port}/after`)).status, 200);
    await waitFor(() => lines.includes('demo-a: request GET /while-away') && lines.includes('demo-a: request GET /after'), { timeoutMs: 5000, what: `both console lines (got ${JSON.stringify(lines)})` });
    // An adopted instance that dies is found (it is no child of this process) and restarted.
    const crashes = () => events.filter((e) => e.type === 'instance.crashed' && e.instance === 'demo-a').length;
    const crashesBefore = crashes();
    process.kill(resumed.pid!, 'SIGKILL');
    await waitFor(() => crashes() > crashesBefore, { timeoutMs: 5000, what: `the adopted instance's crash (events: ${events.map((e) => `${e.type}:${e.instance}`).join(', ')})` });
    const again = await healthy('demo-a');
    assert.notEqual(again.pid, resumed.pid);
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

/** A runtime that counts its starts and never runs anything. */
class CountingRuntime implements Runtime {
  readonly target = 'process' as const;
  readonly started: string[] = [];
  async capability() { return { target: 'process' as const, available: true, reason: 'test' }; }
  async start(spec: InstanceSpec) {
    this.started.push(spec.id);
    return { pid: null, address: '127.0.0.1', port: spec.hostPort };
  }
  async stop() {}
  inspect() { return { running: false, pid: null, exitCode: null, signal: null }; }
  async stats() { return undefined; }
  onExit() {}
  async recover() { return []; }
}

test('an altered artifact is never started nor retried; a bad copy is fetched again once', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'summon-agent-integrity-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const good = join(dir, 'good.mjs');
  const bad = join(dir, 'bad.mjs');
  await writeFile(good, readFileSync(tinyApp));
  await writeFile(bad, '// planted\n');
  const rt = new CountingRuntime();
  const events: AgentEvent[] = [];
  const statuses = new Map<string, Instance>();
  const refetched: string[] = [];
  let fixOnRefetch = false;
  const paths = new Map<string, string>([['altered', bad]]);
  const agent = new Agent({
    hostId: 'h1', dataDir: join(dir, 'agent'), runtimes: [rt],
    artifactPath: (sha) => paths.get(sha) ?? good,
    refetch: async (sha) => {
      refetched.push(sha);
      if (fixOnRefetch) paths.set(sha, good);
    },
    onStatus: (i) => statuses.set(i.id, i), onConsole: () => {}, onEvent: (e) => events.push(e),
  });
  t.after(() => agent.close());
  await agent.start();
  // The release recorded tinySha, but the store's file under that digest is the planted one.
  paths.set(tinySha, bad);
  await agent.setDesired([{ ...desired('demo-bad'), version: 3 }]);
  const refused = await waitFor(() => events.find((e) => e.type === 'artifact.altered'), { timeoutMs: 5000, what: 'artifact.altered' });
  const planted = createHash('sha256').update('// planted\n').digest('hex');
  assert.equal(refused.message,
    `artifact of v3 altered: sha256 ${planted.slice(0, 12)}…≠${tinySha.slice(0, 12)}…; the blob store file was changed after the release was built ` +
    '(fetched again from the control plane, and that copy does not match either); demo-bad not started');
  assert.deepEqual(refused.data, { version: 3, file: 'artifact', expected: tinySha, actual: planted, path: bad, host: 'h1', refetch: 'fetched again from the control plane, and that copy does not match either' });
  assert.deepEqual(refetched, [tinySha], 'fetched again once');
  const st = statuses.get('demo-bad')!;
  assert.equal(st.state, 'crashed');
  assert.equal(st.nextRetryAt, null, 'no restart is scheduled');
  assert.match(st.reason ?? '', /^artifact of v3 altered: sha256 /);
  // A healthy instance started after it: the refused one got no start meanwhile.
  fixOnRefetch = true;
  await agent.setDesired([{ ...desired('demo-bad'), version: 3 }, desired('demo-good')]);
  await waitFor(() => rt.started.includes('demo-good'), { timeoutMs: 5000, what: 'demo-good started' });
  assert.deepEqual(rt.started, ['demo-good'], 'the refused instance was never started, nor retried');
  // A new instance of the same release: its bad copy is fetched again, verified, and started.
  paths.set(tinySha, bad);
  await agent.setDesired([{ ...desired('demo-bad'), version: 3 }, desired('demo-good'), desired('demo-again')]);
  await waitFor(() => rt.started.includes('demo-again'), { timeoutMs: 5000, what: 'demo-again started from the fetched copy' });
  const again = events.filter((e) => e.type === 'artifact.refetched').at(-1)!;
  assert.match(again.message, /^artifact of v1 \(sha256 [0-9a-f]{12}…\) was altered on host h1: fetched again from the control plane and verified$/);
});

test('a start not healthy within its grace: the runtime is asked once why, and its diagnosis is the reason', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'summon-agent-diag-'));
  const asked: { id: string; refused: boolean; tail: string[] }[] = [];
  class Diagnosing extends ProcessRuntime {
    async diagnose(id: string, seen: { lastCheck: { refused: boolean } | null; consoleTail: string[] }): Promise<string> {
      asked.push({ id, refused: seen.lastCheck?.refused ?? false, tail: seen.consoleTail });
      return 'Summon saw: nothing listens on the port. To fix: listen on it';
    }
  }
  const events: AgentEvent[] = [];
  const reported: Instance[] = [];
  const agent = new Agent({
    hostId: 'h1', dataDir: dir, runtimes: [new Diagnosing({ stateDir: dir })], artifactPath: () => tinyApp,
    onStatus: (i) => reported.push(i), onConsole: () => {}, onEvent: (e) => events.push(e),
  });
  // One hook, in this order: the agent (and the instance it keeps restarting) stops before its
  // directory goes (two hooks ran the removal first: ENOTEMPTY, then a file that never ended).
  t.after(async () => {
    await agent.close();
    await rm(dir, { recursive: true, force: true });
  });
  await agent.start();
  // The app listens on a port of its own, not the one it is checked on: every check is refused.
  const d = desired('demo-deaf');
  await agent.setDesired([{ ...d, args: ['--port', '1'], health: { ...d.health, graceMs: 800 } }]);
  const crash = await waitFor(() => events.find((e) => e.type === 'instance.crashed'), { timeoutMs: 10_000, what: 'the start given up' });
  assert.equal(crash.data?.how, 'not healthy within 1s of starting. Summon saw: nothing listens on the port. To fix: listen on it');
  assert.equal(reported.find((i) => i.state === 'crashed')?.reason, crash.data?.how, 'the diagnosis replaces the last check and output tail');
  assert.equal(asked.length, 1, 'asked once, however many checks were in flight');
  assert.deepEqual([asked[0].id, asked[0].refused], ['demo-deaf', true]);
});

test('regression: an instance kept for adoption whose artifact is then found altered is not left running', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'summon-agent-adopt-altered-'));
  const planted = join(dir, 'planted.mjs');
  await writeFile(planted, '// planted\n');
  const statuses = new Map<string, Instance>();
  const events: AgentEvent[] = [];
  let agent = makeAgent(dir, statuses, events);
  t.after(async () => {
    await agent.close();
    await rm(dir, { recursive: true, force: true });
  });
  await agent.start();
  await agent.setDesired([desired('demo-kept')]);
  const s = await waitFor(() => (statuses.get('demo-kept')?.state === 'healthy' ? statuses.get('demo-kept') : undefined), { timeoutMs: 10_000, what: 'demo-kept healthy' });
  await agent.close({ stopInstances: false });
  assert.doesNotThrow(() => process.kill(s.pid!, 0), 'left running for the next start');
  // The next agent finds the release's blob altered: the start is refused, and the process
  // the previous run left for it goes too.
  agent = new Agent({
    hostId: 'h1', dataDir: dir, runtimes: [new ProcessRuntime({ stateDir: dir })], artifactPath: () => planted,
    onStatus: (i) => statuses.set(i.id, i), onConsole: () => {}, onEvent: (e) => events.push(e),
  });
  await agent.start();
  await waitFor(() => events.some((e) => e.type === 'artifact.altered' && e.instance === 'demo-kept'), { timeoutMs: 5000, what: 'artifact.altered' });
  await waitFor(() => {
    try {
      process.kill(s.pid!, 0);
      return false;
    } catch {
      return true;
    }
  }, { timeoutMs: 5000, what: 'the kept process to be gone' });
});
