import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalArch, describeArches, detectArch, hostArch } from './arch.js';

/** A buffer of `len` zero bytes with `bytes` written at `at`. */
function head(len: number, ...parts: [number, number[] | string][]): Buffer {
  const b = Buffer.alloc(len);
  for (const [at, v] of parts) (typeof v === 'string' ? Buffer.from(v, 'latin1') : Buffer.from(v)).copy(b, at);
  return b;
}
const elf = (machine: number, big = false) =>
  head(64, [0, [0x7f, 0x45, 0x4c, 0x46, 2, big ? 2 : 1]], [18, big ? [machine >> 8, machine & 0xff] : [machine & 0xff, machine >> 8]]);

test('detectArch: the table of headers', () => {
  const table: [string, Buffer, string | null | undefined][] = [
    ['ELF x86_64 (e_machine 62)', elf(62), 'x86_64'],
    ['ELF aarch64 (e_machine 183)', elf(183), 'aarch64'],
    ['ELF aarch64, big-endian header', elf(183, true), 'aarch64'],
    ['ELF 32-bit arm (40): recognised, not run', elf(40), null],
    ['ELF riscv (243)', elf(243), null],
    ['arm64 Linux Image: "ARM\\x64" at 0x38', head(1024, [0x38, 'ARM\x64']), 'aarch64'],
    ['x86 bzImage: "HdrS" at 0x202', head(1024, [0x202, 'HdrS']), 'x86_64'],
    ['gzip (a compressed kernel)', head(1024, [0, [0x1f, 0x8b, 8]]), null],
    ['a shell script', Buffer.from('#!/bin/sh\necho hi\n'), undefined],
    ['an MBR disk (no kernel header)', head(1024, [510, [0x55, 0xaa]]), undefined],
    ['empty', Buffer.alloc(0), undefined],
    ['"HdrS" cut short', head(0x204, [0x202, 'Hd']), undefined],
    ['ELF magic but too short for e_machine', Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1]), undefined],
  ];
  for (const [what, buf, want] of table) {
    const got = detectArch(buf);
    if (want === undefined) assert.equal(got, undefined, what);
    else assert.equal(got?.arch, want, what);
  }
  assert.match(detectArch(elf(40))!.how, /arm \(32-bit\)/);
  assert.match(detectArch(head(64, [0, [0x1f, 0x8b]]))!.how, /decompress it in the build/);
});

test('canonicalArch and hostArch: canonical names and their aliases; nothing else', () => {
  assert.equal(canonicalArch('x86_64'), 'x86_64');
  assert.equal(canonicalArch('amd64'), 'x86_64');
  assert.equal(canonicalArch('arm64'), 'aarch64');
  assert.equal(canonicalArch('aarch64'), 'aarch64');
  assert.equal(canonicalArch('armhf'), undefined);
  assert.equal(canonicalArch('toString'), undefined);
  assert.equal(hostArch('x64'), 'x86_64');
  assert.equal(hostArch('arm64'), 'aarch64');
  assert.equal(hostArch('ppc64'), undefined);
  assert.equal(describeArches([{ arch: 'x86_64', native: true }, { arch: 'aarch64', native: false }]), 'x86_64 (native), aarch64 (emulated)');
});
