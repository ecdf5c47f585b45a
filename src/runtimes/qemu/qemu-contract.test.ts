// The shared runtime contract, run against QemuRuntime booting the real vm-hello guest.
import { test } from 'node:test';
import { runRuntimeContract } from '../runtime.contract.js';
import { QemuRuntime } from './qemu-runtime.js';
import { buildVmHello, hasQemu } from './vm-hello-fixture.js';

if (!(await hasQemu())) {
  test('qemu runtime contract', { skip: 'qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)' }, () => {});
} else {
  const img = await buildVmHello();
  runRuntimeContract('qemu', {
    makeRuntime: (stateDir) => new QemuRuntime({ stateDir }),
    baseSpec: () => ({
      app: 'contract', version: 1, target: 'qemu', artifactPath: img.kernel, initrdPath: img.initrd, args: [],
      env: {}, guestPort: 8080, memoryBytes: 128 * 1024 * 1024, cmdline: 'quiet',
    }),
    bootTimeoutMs: 30_000,
  });
}
