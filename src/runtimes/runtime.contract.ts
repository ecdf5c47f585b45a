// The contract every Runtime implementation passes. Each runtime's test file calls
// runRuntimeContract with a fixture that knows how to make a spec for an app that
// serves HTTP (GET / → 200) and prints at least one console line when it starts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InstanceSpec, InstanceStatus, Runtime } from './runtime.js';
import { freePort, waitFor, httpGet } from '../testing/wait.js';

export interface RuntimeFixture {
  /** A fresh runtime whose state lives in stateDir (two runtimes on one stateDir model a restart). */
  makeRuntime(stateDir: string): Runtime;
  /** A spec for an instance that serves HTTP; the contract fills id, workDir and hostPort. */
  baseSpec(): Omit<InstanceSpec, 'id' | 'workDir' | 'hostPort'>;
  /** How long a boot may take on this machine. */
  bootTimeoutMs: number;
}

export function runRuntimeContract(name: string, fixture: RuntimeFixture): void {
  let root: string;
  let n = 0;
  const newSpec = async (): Promise<InstanceSpec> => {
    n += 1;
    const workDir = join(root, `inst-${n}`);
    await mkdir(workDir, { recursive: true });
    return { ...fixture.baseSpec(), id: `${name}-c${n}`, workDir, hostPort: await freePort() };
  };

  test(`${name} runtime contract`, async (t) => {
    root = await mkdtemp(join(tmpdir(), `summon-rt-${name}-`));
    const stateDir = join(root, 'state');
    const runtime = fixture.makeRuntime(stateDir);
    const exits = new Map<string, InstanceStatus>();
    runtime.onExit((id, st) => exits.set(id, st));
    t.after(() => rm(root, { recursive: true, force: true }));

    await t.test('reports its capability', async () => {
      const cap = await runtime.capability();
      assert.equal(cap.target, runtime.target);
      assert.equal(cap.available, true, cap.reason);
      assert.ok(cap.reason.length > 0);
    });

    await t.test('starts an instance that serves HTTP, with console output, stats, and a graceful stop', async () => {
      const spec = await newSpec();
      const lines: string[] = [];
      const handle = await runtime.start(spec, (l) => lines.push(l));
      // The host port the agent allocated, or (a VM on its own tap) the guest's address and port.
      assert.ok(handle.port === spec.hostPort || (handle.address !== '127.0.0.1' && handle.port === spec.guestPort),
        `handle ${handle.address}:${handle.port} for host port ${spec.hostPort}, guest port ${spec.guestPort}`);
      const res = await waitFor(() => httpGet(`http://${handle.address}:${handle.port}/`).catch(() => undefined),
        { timeoutMs: fixture.bootTimeoutMs, what: 'the instance to answer HTTP' });
      assert.equal(res.status, 200);
      await waitFor(() => lines.length > 0, { timeoutMs: 5000, what: 'a console line' });
      const st = runtime.inspect(spec.id);
      assert.equal(st?.running, true);
      await runtime.stats(spec.id);
      const stats = await waitFor(async () => {
        const s = await runtime.stats(spec.id);
        return s && s.memoryBytes > 0 ? s : undefined;
      }, { timeoutMs: 5000, what: 'stats' });
      assert.ok(stats.cpu >= 0);
      await runtime.stop(spec.id, { graceMs: 5000 });
      await waitFor(() => exits.has(spec.id), { timeoutMs: 5000, what: 'onExit after stop' });
      assert.equal(runtime.inspect(spec.id)?.running ?? false, false);
      await assert.rejects(httpGet(`http://${handle.address}:${handle.port}/`));
    });

    await t.test('reports an instance killed from outside through onExit', async () => {
      const spec = await newSpec();
      const handle = await runtime.start(spec, () => {});
      assert.ok(handle.pid, 'a host pid');
      await waitFor(() => httpGet(`http://${handle.address}:${handle.port}/`).catch(() => undefined),
        { timeoutMs: fixture.bootTimeoutMs, what: 'boot' });
      process.kill(handle.pid!, 'SIGKILL');
      const st = await waitFor(() => exits.get(spec.id), { timeoutMs: 5000, what: 'onExit after SIGKILL' });
      assert.equal(st.running, false);
      assert.equal(st.signal, 'SIGKILL');
      await runtime.stop(spec.id);
    });

    await t.test('recover() stops what a previous run left behind', async () => {
      const spec = await newSpec();
      const handle = await runtime.start(spec, () => {});
      await waitFor(() => httpGet(`http://${handle.address}:${handle.port}/`).catch(() => undefined),
        { timeoutMs: fixture.bootTimeoutMs, what: 'boot' });
      const successor = fixture.makeRuntime(stateDir);
      const stopped = await successor.recover(stateDir);
      assert.deepEqual(stopped, [spec.id]);
      await waitFor(() => exits.has(spec.id), { timeoutMs: 5000, what: 'the leftover to exit' });
      assert.deepEqual(await successor.recover(stateDir), []);
    });
  });
}
