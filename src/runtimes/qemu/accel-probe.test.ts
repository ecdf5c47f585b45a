// The KVM probe: boots a real kernel under /dev/kvm once, caches the answer per QEMU version.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AccelProbe, probeBoot, qemuVersion } from './accel-probe.js';
import { buildVmHello, hasQemu } from './vm-hello-fixture.js';

const QEMU = 'qemu-system-x86_64';
const skip = (await hasQemu()) ? false : 'qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)';

test('no /dev/kvm: tcg, saying so, without probing or caching', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'summon-accel-'));
  try {
    const p = new AccelProbe({ stateDir: dir, qemuBinary: QEMU, kvmDevice: join(dir, 'no-kvm'), kernels: [] });
    const r = await p.result('9.9.9');
    assert.equal(r.accel, 'tcg');
    assert.equal(r.kvm, false);
    assert.match(r.reason, /^kvm: no — .*no-kvm does not exist; using tcg/);
    await assert.rejects(readFile(p.cachePath, 'utf8'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('no kernel to probe with: tcg with that reason, not cached (a later build supplies one)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'summon-accel-'));
  try {
    const fakeKvm = join(dir, 'kvm');
    await writeFile(fakeKvm, '');
    const p = new AccelProbe({ stateDir: dir, qemuBinary: QEMU, kvmDevice: fakeKvm, kernels: [join(dir, 'vmlinuz-none')] });
    const r = await p.result('9.9.9');
    assert.equal(r.accel, 'tcg');
    assert.match(r.reason, /no kernel was found to probe it with/);
    await assert.rejects(readFile(p.cachePath, 'utf8'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the probe boots a real kernel under TCG (the same check that judges KVM)', { skip }, async () => {
  const img = await buildVmHello();
  const r = await probeBoot(QEMU, img.kernel, 'tcg', 30_000);
  assert.equal(r.booted, true, r.detail);
});

test('the KVM probe runs once and its answer is cached per QEMU version', { skip }, async (t) => {
  const img = await buildVmHello();
  const dir = await mkdtemp(join(tmpdir(), 'summon-accel-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const ver = (await qemuVersion(QEMU))!;
  assert.match(ver, /^\d+\.\d+/);
  const probe = new AccelProbe({ stateDir: dir, qemuBinary: QEMU, kernels: [img.kernel], timeoutMs: 10_000 });
  const first = await probe.result(ver);
  t.diagnostic(`this host: ${first.reason}`);
  assert.equal(first.cached, false);
  assert.equal(first.kernel, img.kernel);
  assert.equal(first.kvm, first.accel === 'kvm');
  assert.match(first.reason, first.kvm ? /^kvm: yes/ : /^kvm: no — .*using tcg/);
  const file = JSON.parse(await readFile(probe.cachePath, 'utf8'));
  assert.equal(file.qemuVersion, ver);
  assert.equal(file.accel, first.accel);

  // A second runtime on the same stateDir reads the answer instead of probing again.
  const again = await new AccelProbe({ stateDir: dir, qemuBinary: QEMU, kernels: [] }).result(ver);
  assert.equal(again.cached, true);
  assert.equal(again.accel, first.accel);
  assert.equal(again.reason, first.reason);

  // A different QEMU version probes again (here: no kernel given, so it says so).
  const upgraded = await new AccelProbe({ stateDir: dir, qemuBinary: QEMU, kernels: [] }).result(`${ver}-next`);
  assert.equal(upgraded.cached, false);
  assert.match(upgraded.reason, /no kernel was found/);
});
