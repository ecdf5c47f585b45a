// Instance ports: the race where another program binds the port an instance was handed before
// the instance does (seen as 3 of ~50 starts dying with EADDRINUSE), made to happen every time,
// and the allocator that keeps out of the kernel's ephemeral range.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Instance } from '../core/types.js';
import type { ConsoleSink, InstanceSpec, Runtime } from '../runtimes/runtime.js';
import { ProcessRuntime } from '../runtimes/process/process-runtime.js';
import { httpGet, waitFor } from '../testing/wait.js';
import { Agent, type AgentEvent, type DesiredInstance } from './agent.js';
import { defaultInstancePorts, ephemeralRange, PortAllocator, portIsFree } from './ports.js';

const tinyApp = fileURLToPath(new URL('../../../test/fixtures/tiny-app.mjs', import.meta.url));
const tinySha = createHash('sha256').update(readFileSync(tinyApp)).digest('hex');

function desired(id: string): DesiredInstance {
  return {
    id, app: 'demo', version: 1, target: 'process', artifactSha256: tinySha, initrdSha256: null,
    args: ['--port', '{port}'], env: {}, guestPort: 8080, memoryBytes: 64 << 20,
    health: { kind: 'http', path: '/healthy', intervalMs: 100, timeoutMs: 500, healthyThreshold: 1, unhealthyThreshold: 2, graceMs: 10_000 },
  };
}

/** Another program (a process of its own) listening on 127.0.0.1:port. */
async function squat(port: number): Promise<ChildProcess> {
  const p = spawn(process.execPath, ['-e', `require('net').createServer().listen(${port}, '127.0.0.1', () => console.log('bound'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  p.stdout!.on('data', (c) => (out += c));
  await waitFor(() => out.includes('bound'), { timeoutMs: 5000, what: `a squatter on port ${port}` });
  return p;
}

/** The process runtime, but the first start of each instance finds its port already bound by
 *  another program, as when that program won the race between allocation and the app's bind. */
class RacedRuntime extends ProcessRuntime implements Runtime {
  readonly squatters: ChildProcess[] = [];
  readonly ports: number[] = [];
  override async start(spec: InstanceSpec, sink: ConsoleSink) {
    this.ports.push(spec.hostPort);
    if (this.ports.length === 1) this.squatters.push(await squat(spec.hostPort));
    return super.start(spec, sink);
  }
}

test('regression: an instance whose port another program bound first starts on another port, with no crash counted', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'summon-ports-'));
  const rt = new RacedRuntime({ stateDir: dir });
  const statuses = new Map<string, Instance>();
  const events: AgentEvent[] = [];
  const agent = new Agent({
    hostId: 'h1', dataDir: dir, runtimes: [rt], artifactPath: () => tinyApp,
    onStatus: (i) => statuses.set(i.id, i), onConsole: () => {}, onEvent: (e) => events.push(e),
  });
  t.after(async () => {
    await agent.close();
    for (const s of rt.squatters) s.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });
  await agent.start();
  await agent.setDesired([desired('demo-race')]);
  const s = await waitFor(() => (statuses.get('demo-race')?.state === 'healthy' ? statuses.get('demo-race') : undefined), { timeoutMs: 10_000, what: 'demo-race healthy' });
  assert.equal(rt.squatters.length, 1, 'the race happened');
  const taken = events.find((e) => e.type === 'instance.port_taken');
  assert.ok(taken, `an instance.port_taken event (events: ${events.map((e) => e.type).join(', ')})`);
  assert.equal(taken.data?.port, rt.ports[0]);
  assert.match(taken.message, /port \d+ is held by another program: starting it on another port \(not counted as a crash\)/);
  assert.equal(events.filter((e) => e.type === 'instance.crashed').length, 0, 'no crash');
  assert.equal(s.restarts, 0);
  assert.equal(rt.ports.length, 2);
  assert.notEqual(s.port, rt.ports[0]);
  assert.equal(s.port, rt.ports[1]);
  assert.equal((await httpGet(`http://127.0.0.1:${s.port}/`)).status, 200);
});

test('an app that exits while starting on a free port is still a crash', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'summon-ports-crash-'));
  const statuses = new Map<string, Instance>();
  const events: AgentEvent[] = [];
  const agent = new Agent({
    hostId: 'h1', dataDir: dir, runtimes: [new ProcessRuntime({ stateDir: dir })], artifactPath: () => tinyApp,
    onStatus: (i) => statuses.set(i.id, i), onConsole: () => {}, onEvent: (e) => events.push(e),
  });
  t.after(async () => {
    await agent.close();
    await rm(dir, { recursive: true, force: true });
  });
  await agent.start();
  // No --port: the app listens on $PORT... which is given; a bad argument makes it exit at once.
  await agent.setDesired([{ ...desired('demo-bad'), args: ['--port', 'not-a-port'] }]);
  const crash = await waitFor(() => events.find((e) => e.type === 'instance.crashed'), { timeoutMs: 10_000, what: 'the crash' });
  assert.equal(crash.instance, 'demo-bad');
  assert.ok(!events.some((e) => e.type === 'instance.port_taken'));
});

test('PortAllocator: never the kernel\'s ephemeral range, never a port held or listened on, walks on from the last', async (t) => {
  const eph = ephemeralRange();
  const [lo, hi] = defaultInstancePorts(eph);
  assert.ok(hi < eph[0] || lo > eph[1], `${lo}-${hi} is outside the ephemeral range ${eph[0]}-${eph[1]}`);
  assert.deepEqual(defaultInstancePorts([32768, 60999]), [20000, 32767]);
  assert.deepEqual(defaultInstancePorts([1024, 60000]), [60001, 65535]);
  assert.deepEqual(ephemeralRange(() => '32768\t60999\n'), [32768, 60999]);
  assert.deepEqual(ephemeralRange(() => 'garbage'), [32768, 60999]);

  // A real listener on one port of a small range, and one port "held" by an instance.
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
  t.after(() => new Promise<void>((r) => busy.close(() => r())));
  const busyPort = (busy.address() as { port: number }).port;
  assert.equal(await portIsFree(busyPort), false);
  const held = busyPort + 1;
  const a = new PortAllocator({ range: [busyPort - 1, busyPort + 2], start: busyPort - 1, inUse: (p) => p === held, isFree: async (p) => p !== busyPort });
  const first = await a.take();
  const second = await a.take();
  assert.deepEqual([first, second], [busyPort - 1, busyPort + 2], 'skips the listened-on and the held port');
  await assert.rejects(a.take(), /no free port for an instance in \d+-\d+: every one is taken/);
  a.release(first);
  assert.equal(await a.take(), first);
  assert.throws(() => new PortAllocator({ range: [10, 5] }), /range must be two ports lo <= hi/);
});
