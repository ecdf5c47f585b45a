// The qemu runtime booting an arm64 guest (examples/vm-hello-arm64: Debian's arm64 cloud
// kernel and busybox-static:arm64) with qemu-system-aarch64 -M virt, under TCG on an x86
// host, on both networks the runtime offers: QEMU's user-mode network and a tap of its own.
// Skips, saying why, only when qemu-system-aarch64 is missing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QemuRuntime } from './qemu-runtime.js';
import type { InstanceSpec } from '../runtime.js';
import { buildVmHelloArm64, hasQemu } from './vm-hello-fixture.js';
import { freePort, httpGet, waitFor } from '../../testing/wait.js';
import { TapPool } from '../tap-net.js';
import { hostArch } from '../../core/arch.js';

const tapsHere = (await new TapPool().capability()).ok;
const missing = !(await hasQemu('qemu-system-aarch64'));
const skip = missing ? 'qemu-system-aarch64 is not installed (apt-get install qemu-system-arm)' : false;
/** Boot to healthy under TCG: 2-4 s on a quiet 2-core host (waitFor scales it with the machine). */
const BOOT_MS = 60_000;

test('an arm64 guest boots under qemu-system-aarch64 -M virt and serves, on the user-mode network and on a tap', { skip }, async (t) => {
  const img = await buildVmHelloArm64();
  const root = await mkdtemp(join(tmpdir(), 'summon-qemu-arm64-'));
  const rt = new QemuRuntime({ stateDir: join(root, 'state'), defaultGraceMs: 0 });
  const started: string[] = [];
  t.after(async () => {
    await Promise.all(started.map((id) => rt.stop(id, { graceMs: 0 })));
    await rm(root, { recursive: true, force: true });
  });

  const cap = await rt.capability();
  assert.equal(cap.available, true, cap.reason);
  const arm = cap.arches?.find((a) => a.arch === 'aarch64');
  assert.ok(arm, `aarch64 among the arches: ${JSON.stringify(cap.arches)}`);
  // On an x86 host an arm64 guest can only be emulated.
  if (hostArch() !== 'aarch64') assert.equal(arm.native, false);
  assert.match(cap.reason, hostArch() === 'aarch64' ? /aarch64: qemu \S+, kvm: / : /aarch64: qemu \S+, kvm: no — aarch64 guests on a x86_64 host are emulated \(tcg\)/);

  const modes: ('user' | 'tap')[] = tapsHere ? ['user', 'tap'] : ['user'];
  if (!tapsHere) t.diagnostic('no tap devices here (not root, or no /dev/net/tun): the user-mode network only');
  for (const [n, network] of modes.entries()) {
    const workDir = join(root, `inst-${n}`);
    await mkdir(workDir, { recursive: true });
    const spec: InstanceSpec = {
      id: `arm-${n}`, app: 'vm-hello-arm64', version: 3, target: 'qemu', artifactPath: img.kernel, initrdPath: img.initrd,
      args: [], env: { GREETING: 'from-fw-cfg' }, guestPort: 8080, memoryBytes: 128 << 20, cmdline: 'quiet', network,
      workDir, hostPort: await freePort(),
    };
    started.push(spec.id);
    const console: string[] = [];
    const t0 = performance.now();
    const h = await rt.start(spec, (line) => console.push(line));
    const argv = (await readFile(`/proc/${h.pid}/cmdline`, 'utf8')).split('\0');
    assert.match(argv[0], /qemu-system-aarch64$/);
    assert.equal(argv[argv.indexOf('-machine') + 1], 'virt,usb=off,dump-guest-core=off');
    assert.match(argv[argv.indexOf('-append') + 1], /^console=ttyAMA0 panic=1 quiet /);
    if (network === 'tap') assert.match(h.address, /^10\.201\.\d+\.\d+$/);
    else assert.equal(h.address, '127.0.0.1');
    const base = `http://${h.address}:${h.port}`;
    const health = await waitFor(() => httpGet(`${base}/healthy`, { timeoutMs: 2000 }).catch(() => undefined),
      { timeoutMs: BOOT_MS, what: `vm-hello-arm64 /healthy on ${network} (console: ${console.slice(-5).join(' | ')})` });
    assert.equal(health.status, 200);
    t.diagnostic(`${network}: healthy ${Math.round(performance.now() - t0)} ms after start()`);
    const page = await httpGet(`${base}/`);
    assert.equal(page.body.trim(), `hello from vm-hello-arm64 (aarch64) release v3 instance ${spec.id} from-fw-cfg`);
    await waitFor(() => console.some((l) => /vm-hello-arm64: httpd listening/.test(l)), { timeoutMs: 5000, what: 'the console line' });
    await rt.stop(spec.id, { graceMs: 0 });
    assert.equal(rt.inspect(spec.id), undefined);
  }
});
