// Image detection, kernel command line and QEMU argv: the pure parts of the qemu runtime.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { classifyImageHeader, detectImage, detectImageKind } from './image-kind.js';
import { buildKernelCmdline, MAX_CMDLINE } from './kernel-cmdline.js';
import { buildQemuArgs, consoleDevice, ENV_FILE, escapeOptionValue } from './qemu-args.js';
import { envFileText } from './qemu-runtime.js';

test('classifyImageHeader tells a bzImage from an MBR disk by content', () => {
  const kernel = Buffer.alloc(1024);
  kernel.write('HdrS', 0x202, 'latin1');
  kernel[510] = 0x55; // bzImages carry a boot-sector signature too: HdrS must win
  kernel[511] = 0xaa;
  assert.equal(classifyImageHeader(kernel), 'kernel');
  const disk = Buffer.alloc(512);
  disk[510] = 0x55;
  disk[511] = 0xaa;
  assert.equal(classifyImageHeader(disk), 'disk');
  assert.equal(classifyImageHeader(Buffer.from('#!/bin/sh\necho hi\n')), undefined);
});

test('an arm64 Image is a kernel too, and detectImage says each image\'s architecture', async () => {
  const image = Buffer.alloc(1024);
  image.write('ARM\x64', 0x38, 'latin1');
  assert.equal(classifyImageHeader(image), 'kernel');
  const bz = Buffer.alloc(1024);
  bz.write('HdrS', 0x202, 'latin1');
  const disk = Buffer.alloc(512);
  disk[510] = 0x55;
  disk[511] = 0xaa;
  const dir = await mkdtemp(join(tmpdir(), 'summon-kind-'));
  try {
    const table: [string, Buffer, { kind: string; arch: string }][] = [
      ['Image', image, { kind: 'kernel', arch: 'aarch64' }],
      ['bzImage', bz, { kind: 'kernel', arch: 'x86_64' }],
      ['disk.raw', disk, { kind: 'disk', arch: 'x86_64' }],
    ];
    for (const [name, buf, want] of table) {
      await writeFile(join(dir, name), buf);
      assert.deepEqual(await detectImage(join(dir, name)), want, name);
    }
    // A gzip-compressed arm64 kernel is neither: the message says to decompress it.
    await writeFile(join(dir, 'vmlinuz.gz'), Buffer.from([0x1f, 0x8b, 8, 0]));
    await assert.rejects(detectImage(join(dir, 'vmlinuz.gz')), /arm64 Image, "ARM\\x64" at 0x38.*an arm64 kernel decompressed/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('buildQemuArgs: an aarch64 kernel boots on the virt machine, a Cortex-A57 under TCG, the host CPU under KVM', () => {
  const table: [string, 'tcg' | 'kvm', string[]][] = [
    ['tcg', 'tcg', ['-machine', 'virt,usb=off,dump-guest-core=off', '-accel', 'tcg,thread=multi,tb-size=64', '-cpu', 'cortex-a57']],
    ['kvm', 'kvm', ['-machine', 'virt,usb=off,dump-guest-core=off', '-accel', 'kvm', '-cpu', 'host']],
  ];
  for (const [what, accel, want] of table) {
    for (const net of [{ kind: 'user', hostPort: 40001, guestPort: 8080 }, { kind: 'tap', tap: 'smn002a', mac: '02:53:4d:00:00:2a' }] as const) {
      const args = buildQemuArgs({
        id: 'a', accel, kind: 'kernel', artifactPath: '/dev/fd/3', initrdPath: '/dev/fd/4', cmdline: `console=${consoleDevice('aarch64')}`,
        memoryBytes: 128 << 20, net, envFile: ENV_FILE, arch: 'aarch64', tcgCodeBufferMiB: 64,
      });
      const at = (flag: string) => args.slice(args.indexOf(flag), args.indexOf(flag) + 2);
      assert.deepEqual([...at('-machine'), ...at('-accel'), ...at('-cpu')], want, `${what} ${net.kind}`);
      assert.equal(args[args.indexOf('-append') + 1], 'console=ttyAMA0');
      assert.match(args[args.indexOf('-device') + 1], /^virtio-net-pci,netdev=n0/);
      assert.equal(args[args.indexOf('-sandbox') + 1], 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny');
      assert.equal(args[args.indexOf('-fw_cfg') + 1], 'name=opt/summon/env,file=summon-env');
    }
  }
  assert.equal(consoleDevice('x86_64'), 'ttyS0');
  assert.equal(consoleDevice(), 'ttyS0');
});

test('detectImageKind names what it expected when the artifact is neither', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'summon-kind-'));
  try {
    await writeFile(join(dir, 'app'), 'not an image');
    await assert.rejects(detectImageKind(join(dir, 'app')), /neither a Linux kernel .* nor a bootable raw disk/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('buildKernelCmdline puts config vars after the base words and [run].cmdline', () => {
  assert.equal(
    buildKernelCmdline({ base: ['console=ttyS0', 'panic=1'], extra: ' quiet ', env: { A: '1', URL: 'https://x.test/a?b=c&d' } }),
    'console=ttyS0 panic=1 quiet A=1 URL=https://x.test/a?b=c&d',
  );
});

test('buildKernelCmdline refuses what the kernel command line cannot carry', () => {
  for (const v of ['two words', 'say "hi"', "it's", 'back\\slash', 'tab\there', 'naïve']) {
    assert.throws(() => buildKernelCmdline({ base: [], env: { K: v } }), (e: Error & { code?: string }) =>
      e.code === 'invalid_input' && /config var K holds .*kernel command line/.test(e.message), v);
  }
  // A lower-case name could be a kernel parameter (rdinit=/bin/sh): only env names pass.
  for (const k of ['bad.key', 'rdinit', 'init']) {
    assert.throws(() => buildKernelCmdline({ base: [], env: { [k]: '/bin/sh' } }), /environment-variable names/, k);
  }
  assert.throws(() => buildKernelCmdline({ base: [], env: { K: 'x'.repeat(MAX_CMDLINE) } }), /more than Linux accepts/);
});

test('buildQemuArgs: kernel boot, TCG, forwarded port, relative sockets', () => {
  const args = buildQemuArgs({
    id: 'web-1', accel: 'tcg', kind: 'kernel', artifactPath: '/blobs/k', initrdPath: '/blobs/i', cmdline: 'console=ttyS0 A=1',
    memoryBytes: 128 * 1024 * 1024, net: { kind: 'user', hostPort: 40001, guestPort: 8080 },
  });
  const after = (flag: string): string | undefined => args[args.indexOf(flag) + 1];
  assert.equal(after('-name'), 'summon-web-1');
  assert.equal(after('-accel'), 'tcg,thread=multi');
  assert.equal(after('-cpu'), 'max');
  assert.equal(after('-m'), '128M');
  assert.equal(after('-kernel'), '/blobs/k');
  assert.equal(after('-initrd'), '/blobs/i');
  assert.equal(after('-append'), 'console=ttyS0 A=1');
  assert.equal(after('-netdev'), 'user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:40001-:8080');
  assert.equal(after('-qmp'), 'unix:qmp.sock,server=on,wait=off');
  assert.ok(args.includes('-nodefaults') && args.includes('-no-user-config') && args.includes('-no-reboot'));
  assert.ok(!args.includes('-drive'));
  assert.ok(!args.includes('-fw_cfg'), 'no fw_cfg entry without an env file');
});

test('buildQemuArgs: the seccomp sandbox, libvirt\'s defaults, restricted user net, config only as a file', () => {
  const args = buildQemuArgs({
    id: 'web-1', accel: 'tcg', kind: 'kernel', artifactPath: '/blobs/k', cmdline: 'console=ttyS0 PORT=8080',
    memoryBytes: 128 << 20, net: { kind: 'user', hostPort: 40001, guestPort: 8080 }, envFile: ENV_FILE,
  });
  const after = (flag: string): string | undefined => args[args.indexOf(flag) + 1];
  assert.equal(after('-sandbox'), 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny');
  assert.equal(after('-machine'), 'usb=off,dump-guest-core=off');
  assert.equal(after('-fw_cfg'), 'name=opt/summon/env,file=summon-env');
  assert.match(after('-netdev') ?? '', /^user,id=n0,restrict=on,hostfwd=tcp:127\.0\.0\.1:40001-:8080$/);
  // Only the QMP socket Summon uses: no human monitor, no default serial/parallel/VGA.
  for (const f of ['-monitor', '-mon', '-chardev', '-vga', '-parallel']) assert.ok(!args.includes(f), f);
  assert.equal(args.filter((a) => a === '-serial').length, 1);
  assert.equal(args.filter((a) => a === '-qmp').length, 1);
});

test('the qemu runtime keeps config values out of argv: they reach the guest only through opt/summon/env', async () => {
  const secret = 'sk_live_0123456789abcdef';
  const text = envFileText({ DATABASE_URL: `postgres://u:${secret}@db/x`, PORT: '8080' });
  assert.equal(text, `DATABASE_URL=postgres://u:${secret}@db/x\nPORT=8080\n`);
  // The runtime builds argv from buildQemuArgs with the command line of its own words and the file's name.
  const cmdline = buildKernelCmdline({ base: ['console=ttyS0', 'panic=1'], env: { PORT: '8080', SUMMON_ADDR: '10.0.2.15/24' } });
  for (const kind of ['kernel', 'disk'] as const) {
    const args = buildQemuArgs({
      id: 'w', accel: 'tcg', kind, artifactPath: '/blobs/k', cmdline, memoryBytes: 128 << 20,
      net: { kind: 'user', hostPort: 40001, guestPort: 8080 }, envFile: ENV_FILE,
    });
    assert.ok(!args.join('\0').includes(secret), `${kind}: the secret is not in argv`);
    assert.ok(args.includes('name=opt/summon/env,file=summon-env'), kind);
    if (kind === 'disk') assert.ok(args.includes(`name=opt/summon/cmdline,string=${cmdline}`));
  }
});

test('buildQemuArgs: a disk boots read-only-snapshot under KVM, commas escaped, on a tap', () => {
  const args = buildQemuArgs({
    id: 'd', accel: 'kvm', kind: 'disk', artifactPath: '/blobs/a,b.raw', cmdline: '', memoryBytes: 256 << 20,
    net: { kind: 'tap', tap: 'smn002a', mac: '02:53:4d:00:00:2a' },
  });
  assert.equal(args[args.indexOf('-netdev') + 1], 'tap,id=n0,ifname=smn002a,script=no,downscript=no');
  assert.equal(args[args.indexOf('-device') + 1], 'virtio-net-pci,netdev=n0,mac=02:53:4d:00:00:2a');
  assert.equal(args[args.indexOf('-accel') + 1], 'kvm');
  assert.equal(args[args.indexOf('-cpu') + 1], 'host');
  assert.equal(args[args.indexOf('-drive') + 1], 'file=/blobs/a,,b.raw,format=raw,if=virtio,snapshot=on');
  assert.ok(!args.includes('-kernel'));
  assert.equal(escapeOptionValue('a,b,,c'), 'a,,b,,,,c');
});
