// The exported raw disk of vm-hello must boot with nothing but its own boot loader:
// plain `qemu-system-x86_64 -drive file=…,format=raw`, no -kernel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, open, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBootableDisk, exportGceImage, syslinuxConfig } from './disk-image.js';
import { buildVmHello, hasQemu } from '../runtimes/qemu/vm-hello-fixture.js';
import { classifyImageHeader } from '../runtimes/qemu/image-kind.js';
import { QemuRuntime } from '../runtimes/qemu/qemu-runtime.js';
import { freePort, httpGet, waitFor } from '../testing/wait.js';

const haveTools = await new Promise<boolean>((r) => execFile('syslinux', ['--version'], (e) => r(!e || (e as { code?: unknown }).code !== 'ENOENT')));
const skip = !(await hasQemu())
  ? 'qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)'
  : !haveTools ? 'syslinux is not installed (apt-get install syslinux syslinux-common mtools dosfstools)' : false;

test('syslinuxConfig boots the kernel with the initrd and the command line, on the serial console', () => {
  const cfg = syslinuxConfig('console=ttyS0 A=1', true);
  assert.match(cfg, /^SERIAL 0 115200$/m);
  assert.match(cfg, /^ {2}KERNEL vmlinuz$/m);
  assert.match(cfg, /^ {2}INITRD initrd.gz$/m);
  assert.match(cfg, /^ {2}APPEND console=ttyS0 A=1$/m);
  assert.doesNotMatch(syslinuxConfig('x', false), /INITRD/);
});

test('buildBootableDisk refuses a multi-line command line', async () => {
  await assert.rejects(buildBootableDisk({ kernel: '/k', cmdline: 'a\nb', out: '/tmp/x' }), /one line/);
});

test('vm-hello as a bootable raw disk and a GCE image', { skip }, async (t) => {
  const img = await buildVmHello();
  const dir = await mkdtemp(join(tmpdir(), 'summon-disk-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const raw = join(dir, 'vm-hello.raw');
  await buildBootableDisk({ kernel: img.kernel, initrd: img.initrd, cmdline: 'quiet panic=1 SUMMON_RELEASE=v42', out: raw });

  await t.test('has an MBR with one active FAT partition', async () => {
    const fh = await open(raw, 'r');
    const head = Buffer.alloc(1024);
    await fh.read(head, 0, 1024, 0);
    await fh.close();
    assert.equal(classifyImageHeader(head), 'disk');
    assert.equal(head[446], 0x80);
    assert.equal(head[446 + 4], 0x0e);
    assert.equal(head.readUInt32LE(446 + 8), 2048);
    const size = (await stat(raw)).size;
    assert.equal(size, 1024 * 1024 + head.readUInt32LE(446 + 12) * 512);
  });

  await t.test('boots under plain qemu (no -kernel) and answers HTTP on the forwarded port', async () => {
    const port = await freePort();
    const consoleLog = join(dir, 'console.log');
    const q = spawn('qemu-system-x86_64', [
      '-nodefaults', '-no-user-config', '-display', 'none', '-accel', 'tcg', '-cpu', 'max', '-m', '128M',
      '-drive', `file=${raw},format=raw`, '-snapshot', '-no-reboot', '-serial', `file:${consoleLog}`,
      '-netdev', `user,id=n0,hostfwd=tcp:127.0.0.1:${port}-:8080`, '-device', 'virtio-net-pci,netdev=n0',
    ], { stdio: 'ignore' });
    const gone = new Promise((r) => q.once('exit', r));
    t.after(async () => {
      q.kill('SIGKILL');
      await gone;
    });
    const t0 = performance.now();
    // Wait for the guest to say httpd is up (an early request can sit in slirp's SYN backoff).
    await waitFor(async () => /vm-hello: httpd listening/.test(await readFile(consoleLog, 'utf8').catch(() => '')),
      { timeoutMs: 30_000, what: 'the disk-booted guest to start httpd' });
    const res = await waitFor(() => httpGet(`http://127.0.0.1:${port}/`, { timeoutMs: 2000 }).catch(() => undefined),
      { timeoutMs: 10_000, what: 'HTTP from the disk-booted guest' });
    t.diagnostic(`disk boot to HTTP: ${Math.round(performance.now() - t0)} ms`);
    assert.equal(res.status, 200);
    assert.match(res.body, /release v42/);
    const log = await readFile(consoleLog, 'utf8');
    assert.match(log, /SYSLINUX/, 'booted through syslinux, not -kernel');
  });

  await t.test('QemuRuntime detects the disk by content and boots it without writing it', async () => {
    const before = await readFile(raw);
    const rt = new QemuRuntime({ stateDir: join(dir, 'state') });
    const workDir = join(dir, 'rt');
    await mkdir(workDir);
    const h = await rt.start({
      id: 'disk-1', app: 'vm-hello', version: 5, target: 'qemu', artifactPath: raw, args: [], env: {},
      guestPort: 8080, memoryBytes: 128 * 1024 * 1024, workDir, hostPort: await freePort(),
    }, () => {});
    try {
      const res = await waitFor(() => httpGet(`http://127.0.0.1:${h.port}/healthy`, { timeoutMs: 500 }).catch(() => undefined),
        { timeoutMs: 30_000, what: 'the disk-booted instance' });
      assert.equal(res.status, 200);
    } finally {
      await rt.stop('disk-1', { graceMs: 5000 });
    }
    assert.ok(before.equals(await readFile(raw)), 'the disk image was not written');
  });

  await t.test('exportGceImage: a tar.gz holding exactly disk.raw, padded to whole GiB, in oldgnu format', async () => {
    const out = join(dir, 'vm-hello.tar.gz');
    await exportGceImage(raw, out);
    const listing = await new Promise<string>((resolve, reject) =>
      execFile('tar', ['-tvzf', out], (e, so) => (e ? reject(e) : resolve(so))));
    const lines = listing.trim().split('\n');
    assert.equal(lines.length, 1, listing);
    assert.match(lines[0], /\sdisk\.raw$/);
    const size = Number(lines[0].trim().split(/\s+/)[2]);
    assert.equal(size % (1024 ** 3), 0, `disk.raw is ${size} bytes`);
    // GNU oldgnu headers carry the magic "ustar  \0" at 257.
    const gz = await new Promise<Buffer>((resolve, reject) =>
      execFile('sh', ['-c', 'gzip -dc -- "$1" | head -c 512', 'sh', out], { encoding: 'buffer' }, (e, so) => (e ? reject(e) : resolve(so))));
    assert.equal(gz.toString('latin1', 257, 265), 'ustar  \0');
    assert.ok((await stat(out)).size < 64 * 1024 * 1024, 'stored sparse/compressed, not as 1 GiB of zeros');
  });
});
