// The qemu runtime against the real QEMU and the real vm-hello guest (Debian cloud kernel
// + busybox initramfs). Skips, saying why, only when qemu-system-x86_64 is missing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QemuRuntime } from './qemu-runtime.js';
import type { InstanceSpec, InstanceStatus } from '../runtime.js';
import { buildVmHello, hasQemu, type VmHelloImage } from './vm-hello-fixture.js';
import { freePort, httpGet, scaled, waitFor } from '../../testing/wait.js';
import { TapPool } from '../tap-net.js';
import { execFileSync } from 'node:child_process';

const BOOT_MS = 30_000;
const tapsHere = (await new TapPool().capability()).ok;

/** Whether a host interface still holds the host side (.1) of the /30 a tap guest had (.2). */
function tapAddressHeld(guestAddress: string): boolean {
  const o = guestAddress.split('.').map(Number);
  const host = `${o[0]}.${o[1]}.${o[2]}.${o[3] - 1}`;
  return execFileSync('ip', ['-4', '-o', 'addr', 'show'], { encoding: 'utf8' }).includes(`inet ${host}/30 `);
}
const qemuMissing = !(await hasQemu());
const skip = qemuMissing ? 'qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)' : false;

test('QemuRuntime validates its options at construction', () => {
  assert.throws(() => new QemuRuntime({ stateDir: '' }), /stateDir is required/);
  assert.throws(() => new QemuRuntime({ stateDir: '/tmp/x', accel: 'hvf' as 'kvm' }), /accel must be/);
  assert.throws(() => new QemuRuntime({ stateDir: '/tmp/x', defaultGraceMs: -1 }), /defaultGraceMs/);
});

test('capability() says how to install QEMU when the binary is missing, and start() refuses', async () => {
  const root = await mkdtemp(join(tmpdir(), 'summon-qemu-missing-'));
  try {
    const rt = new QemuRuntime({ stateDir: root, qemuBinaries: { x86_64: join(root, 'no-such-qemu'), aarch64: join(root, 'no-such-qemu-arm') } });
    const cap = await rt.capability();
    assert.equal(cap.available, false);
    assert.match(cap.reason, /no-such-qemu \(x86_64\) not found or not runnable: install it with `apt-get install qemu-system-x86`/);
    assert.match(cap.reason, /no-such-qemu-arm \(aarch64\) not found or not runnable: install it with `apt-get install qemu-system-arm`/);
    await assert.rejects(
      rt.start({
        id: 'i-x', app: 'a', version: 1, target: 'qemu', artifactPath: '/nonexistent', args: [], env: {},
        guestPort: 8080, memoryBytes: 128 << 20, workDir: root, hostPort: 1,
      }, () => {}),
      (e: Error & { code?: string }) => e.code === 'runtime_unavailable' && /apt-get install/.test(e.message),
    );
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('qemu runtime with the vm-hello guest', { skip }, async (t) => {
  const img: VmHelloImage = await buildVmHello();
  const root = await mkdtemp(join(tmpdir(), 'summon-qemu-'));
  const stateDir = join(root, 'state');
  const rt = new QemuRuntime({ stateDir, defaultGraceMs: 10_000 });
  const exits = new Map<string, InstanceStatus>();
  rt.onExit((id, st) => exits.set(id, st));
  const started: string[] = [];
  t.after(async () => {
    await Promise.all(started.map((id) => rt.stop(id, { graceMs: 0 })));
    await rm(root, { recursive: true, force: true });
  });
  let n = 0;
  const spec = async (over: Partial<InstanceSpec> = {}): Promise<InstanceSpec> => {
    n += 1;
    const workDir = join(root, `inst-${n}`);
    await mkdir(workDir, { recursive: true });
    const s: InstanceSpec = {
      id: `vm-${n}`, app: 'vm-hello', version: 7, target: 'qemu', artifactPath: img.kernel, initrdPath: img.initrd,
      args: [], env: { GREETING: 'hi-there' }, guestPort: 8080, memoryBytes: 128 * 1024 * 1024, cmdline: 'quiet',
      workDir, hostPort: await freePort(), ...over,
    };
    started.push(s.id);
    return s;
  };

  await t.test('a config var that is no environment-variable name or would add a kernel parameter: start() refuses, QEMU never runs', async () => {
    for (const env of [{ rdinit: '/bin/sh' }, { GREETING: 'x init=/bin/sh' }] as Record<string, string>[]) {
      const s = await spec({ env });
      await assert.rejects(rt.start(s, () => {}), (e: Error & { code?: string }) =>
        e.code === 'invalid_input' && /^qemu will not start this instance: config var/.test(e.message), JSON.stringify(env));
      assert.equal(rt.inspect(s.id), undefined);
      await assert.rejects(stat(join(s.workDir, 'qemu.pid')), /ENOENT/);
    }
  });

  await t.test('capability() reports the acceleration it decided on, with a reason', async () => {
    const cap = await rt.capability();
    assert.equal(cap.target, 'qemu');
    assert.equal(cap.available, true, cap.reason);
    assert.ok(cap.accel === 'kvm' || cap.accel === 'tcg');
    assert.equal(cap.kvm, cap.accel === 'kvm');
    assert.match(cap.reason, /kvm: (yes|no|unknown)/);
    // The probe's answer is cached on disk for the next Summon start.
    const cached = JSON.parse(await readFile(join(stateDir, 'qemu', 'accel-probe.json'), 'utf8'));
    assert.equal(cached.accel, cap.accel);
  });

  await t.test('boots, serves the release through the forwarded port, streams the console, and stops gracefully', async () => {
    const s = await spec();
    const lines: { line: string; stream: string }[] = [];
    const t0 = performance.now();
    const h = await rt.start(s, (line, stream) => lines.push({ line, stream }));
    if (tapsHere) {
      // Its own tap and /30: the router reaches the guest's address and port directly.
      assert.match(h.address, /^10\.201\.\d+\.\d+$/);
      assert.equal(h.port, 8080);
      assert.equal(h.unanswered, 'dropped');
      assert.ok(tapAddressHeld(h.address));
    } else {
      assert.equal(h.address, '127.0.0.1');
      assert.equal(h.port, s.hostPort);
    }
    const base = `http://${h.address}:${h.port}`;
    assert.ok(h.pid && h.pid > 1);
    // qemu wrote its pid file in workDir.
    assert.equal(Number((await readFile(join(s.workDir, 'qemu.pid'), 'utf8')).trim()), h.pid);
    const health = await waitFor(() => httpGet(`${base}/healthy`, { timeoutMs: 2000 }).catch(() => undefined),
      { timeoutMs: BOOT_MS, what: 'vm-hello /healthy' });
    assert.equal(health.status, 200);
    t.diagnostic(`healthy ${Math.round(performance.now() - t0)} ms after start()`);
    const root = await httpGet(`${base}/`);
    assert.equal(root.status, 200);
    assert.equal(root.body.trim(), `hello from vm-hello release v7 instance ${s.id} hi-there`);
    // GREETING reached the guest through fw_cfg only: not in QEMU's argv, and its 0600 file
    // is gone from workDir once QEMU has read it.
    const argv = (await readFile(`/proc/${h.pid}/cmdline`, 'utf8')).split('\0');
    assert.ok(!argv.some((a) => a.includes('hi-there')), argv.join(' '));
    assert.ok(argv.includes('-sandbox') && argv.includes('name=opt/summon/env,file=summon-env'), argv.join(' '));
    await assert.rejects(stat(join(s.workDir, 'summon-env')), /ENOENT/);
    await waitFor(() => lines.some((l) => l.stream === 'console' && /vm-hello: httpd listening/.test(l.line)),
      { timeoutMs: 5000, what: 'the guest console line' });
    assert.equal(rt.inspect(s.id)?.running, true);

    await rt.stats(s.id);
    const st = await waitFor(async () => {
      const x = await rt.stats(s.id);
      return x && x.memoryBytes > 0 ? x : undefined;
    }, { timeoutMs: 5000, what: 'stats' });
    assert.ok(st.cpu >= 0 && st.cpu <= 4, `cpu ${st.cpu}`);
    assert.ok(st.memoryBytes > 20 * 1024 * 1024, `qemu RSS ${st.memoryBytes}`);

    const t1 = performance.now();
    await rt.stop(s.id, { graceMs: 60_000 });
    const stopMs = performance.now() - t1;
    // Graceful: the guest saw the power button (QMP system_powerdown) and powered off by itself.
    assert.ok(lines.some((l) => /power button pressed/.test(l.line)), 'the guest handled system_powerdown');
    assert.ok(stopMs < 55_000, `stop took ${stopMs} ms: it should not have waited for the 60 s grace period`);
    const ex = exits.get(s.id);
    assert.ok(ex, 'onExit fired');
    assert.equal(ex.running, false);
    assert.equal(ex.exitCode, 0);
    assert.equal(rt.inspect(s.id), undefined);
    if (tapsHere) assert.equal(tapAddressHeld(h.address), false, 'the tap is gone with the instance');
    else await assert.rejects(httpGet(`${base}/healthy`, { timeoutMs: 1000 }));
    // The instance record for recover() is gone with the instance.
    await assert.rejects(stat(join(stateDir, 'qemu', `${s.id}.json`)));
  });

  await t.test('SIGKILL of the qemu pid fires onExit; recover() kills a leftover qemu and only that', async () => {
    const a = await spec();
    const b = await spec();
    const ha = await rt.start(a, () => {});
    const hb = await rt.start(b, () => {});
    // Both are launched (QMP answered); no need to wait for the guests to finish booting.
    process.kill(ha.pid!, 'SIGKILL');
    const st = await waitFor(() => exits.get(a.id), { timeoutMs: 5000, what: 'onExit after SIGKILL' });
    assert.equal(st.running, false);
    assert.equal(st.signal, 'SIGKILL');
    // Regression: the agent restarts a crashed instance under the same id without stop() first.
    const again = await rt.start({ ...a, hostPort: await freePort() }, () => {});
    assert.ok(again.pid && again.pid !== ha.pid);
    assert.equal(rt.inspect(a.id)?.running, true);
    await rt.stop(a.id, { graceMs: 0 });

    const successor = new QemuRuntime({ stateDir });
    assert.deepEqual(await successor.recover(stateDir), [b.id]);
    const sb = await waitFor(() => exits.get(b.id), { timeoutMs: 5000, what: 'the leftover to exit' });
    assert.equal(sb.signal, 'SIGKILL');
    assert.deepEqual(await successor.recover(stateDir), []);
    assert.ok(hb.pid);
    if (tapsHere) assert.equal(tapAddressHeld(hb.address), false, 'recover() deleted the leftover\'s tap');
  });

  await t.test('stop() forces a qemu that answers nothing: powerdown, quit, then SIGKILL', async () => {
    const impatient = new QemuRuntime({ stateDir, quitTimeoutMs: 200 });
    const forced = new Map<string, InstanceStatus>();
    impatient.onExit((id, st) => forced.set(id, st));
    const s = await spec();
    const h = await impatient.start(s, () => {});
    // A stopped process answers neither the guest's power button nor QMP.
    process.kill(h.pid!, 'SIGSTOP');
    const t1 = performance.now();
    await impatient.stop(s.id, { graceMs: 200 });
    const ms = performance.now() - t1;
    assert.ok(ms < scaled(5000), `forced stop took ${ms} ms`);
    assert.equal(forced.get(s.id)?.signal, 'SIGKILL');
  });

  await t.test('network = "user": QEMU forwards the host port; a port already taken is reported in QEMU\'s words', async () => {
    const first = await spec({ network: 'user' });
    const h = await rt.start(first, () => {});
    assert.deepEqual([h.address, h.port, h.unanswered], ['127.0.0.1', first.hostPort, 'held']);
    const res = await waitFor(() => httpGet(`http://127.0.0.1:${first.hostPort}/`, { timeoutMs: 2000 }).catch(() => undefined),
      { timeoutMs: BOOT_MS, what: 'vm-hello on the user-mode network' });
    assert.match(res.body, new RegExp(`hello from vm-hello release v7 instance ${first.id}`));
    const second = await spec({ hostPort: first.hostPort, network: 'user' });
    await assert.rejects(rt.start(second, () => {}), /qemu exited while starting .*(hostfwd|forward)/i);
    assert.equal(rt.inspect(second.id), undefined);
    await rt.stop(first.id, { graceMs: 0 });
  });

  await t.test('start() refuses a config var the kernel command line cannot carry', async () => {
    const s = await spec({ env: { BAD: 'two words' } });
    await assert.rejects(rt.start(s, () => {}), (e: Error & { code?: string }) => e.code === 'invalid_input' && /BAD/.test(e.message));
    assert.equal(rt.inspect(s.id), undefined);
  });
});
