// Tests and benchmarks boot the real vm-hello guest: this builds it (once per process)
// with its own build script, whose package cache makes every build after the first fast.
import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export interface VmHelloImage {
  dir: string;
  kernel: string;
  initrd: string;
}

/** examples/vm-hello, found from this file's place in src/ or dist/src/. */
export function vmHelloDir(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const up = here.includes('/dist/') ? '../../../../' : '../../../';
  return join(here, up, 'examples', 'vm-hello');
}

let building: Promise<VmHelloImage> | undefined;

export function buildVmHello(): Promise<VmHelloImage> {
  building ??= new Promise<VmHelloImage>((resolve, reject) => {
    const dir = vmHelloDir();
    execFile('sh', [join(dir, 'build.sh')], { cwd: dir, timeout: 300_000, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`building vm-hello failed: ${err.message}\n${stdout}\n${stderr}`));
      resolve({ dir, kernel: join(dir, 'build', 'vmlinuz'), initrd: join(dir, 'build', 'initrd.gz') });
    });
  });
  return building;
}

/** examples/vm-hello-arm64, beside vm-hello. */
export function vmHelloArm64Dir(): string {
  return join(vmHelloDir(), '..', 'vm-hello-arm64');
}

let buildingArm64: Promise<VmHelloImage> | undefined;

/** Builds examples/vm-hello-arm64 (an arm64 Image and initrd) with its own build script. */
export function buildVmHelloArm64(): Promise<VmHelloImage> {
  buildingArm64 ??= new Promise<VmHelloImage>((resolve, reject) => {
    const dir = vmHelloArm64Dir();
    execFile('sh', [join(dir, 'build.sh')], { cwd: dir, timeout: 300_000, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`building vm-hello-arm64 failed: ${err.message}\n${stdout}\n${stderr}`));
      resolve({ dir, kernel: join(dir, 'build', 'Image'), initrd: join(dir, 'build', 'initrd.gz') });
    });
  });
  return buildingArm64;
}

/** Whether qemu-system-x86_64 can run here; tests skip (saying why) when it cannot. */
export function hasQemu(binary = 'qemu-system-x86_64'): Promise<boolean> {
  return new Promise((resolve) => execFile(binary, ['--version'], (err) => resolve(!err)));
}

export async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
