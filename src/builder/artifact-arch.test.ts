import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BuildError } from '../core/errors.js';
import type { Arch, ArchDetection } from '../core/arch.js';
import { releaseArchOf, resolveReleaseArch } from './artifact-arch.js';

const arm: ArchDetection = { arch: 'aarch64', how: 'arm64 Linux Image' };
const x86: ArchDetection = { arch: 'x86_64', how: 'x86 Linux bzImage' };
const arm32: ArchDetection = { arch: null, how: 'ELF for arm (32-bit)' };

test('resolveReleaseArch: the header decides, [run].arch may agree or fill in, a contradiction fails the build', () => {
  const table: [string, ArchDetection, Arch | undefined, { arch?: Arch; archFrom?: string } | RegExp][] = [
    ['arm64 Image, no [run].arch', arm, undefined, { arch: 'aarch64', archFrom: 'arm64 Linux Image' }],
    ['arm64 Image, [run].arch aarch64', arm, 'aarch64', { arch: 'aarch64', archFrom: 'arm64 Linux Image' }],
    ['bzImage, [run].arch aarch64', x86, 'aarch64', /\[run\]\.arch is aarch64 but the artifact build\/k is x86_64 \(x86 Linux bzImage\): build it for aarch64, or set \[run\]\.arch = "x86_64"/],
    ['arm64 Image, [run].arch x86_64', arm, 'x86_64', /\[run\]\.arch is x86_64 but the artifact build\/k is aarch64/],
    ['a script, [run].arch aarch64', undefined, 'aarch64', { arch: 'aarch64', archFrom: '[run].arch' }],
    ['a script, nothing said', undefined, undefined, {}],
    ['32-bit ARM ELF, nothing said', arm32, undefined, {}],
    ['32-bit ARM ELF, [run].arch aarch64', arm32, 'aarch64', /\[run\]\.arch is aarch64 but the artifact build\/k is ELF for arm \(32-bit\)/],
  ];
  for (const [what, detected, wanted, want] of table) {
    if (want instanceof RegExp) {
      assert.throws(() => resolveReleaseArch(detected, wanted, 'build/k'), (e: unknown) => e instanceof BuildError && want.test(e.message), what);
    } else {
      assert.deepEqual(resolveReleaseArch(detected, wanted, 'build/k'), want, what);
    }
  }
});

test('releaseArchOf reads the file\'s first bytes', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'summon-arch-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const image = Buffer.alloc(4096);
  image.write('ARM\x64', 0x38, 'latin1');
  await writeFile(join(dir, 'Image'), image);
  await writeFile(join(dir, 'tiny'), 'ok');
  assert.equal((await releaseArchOf(join(dir, 'Image'), 'aarch64', 'Image')).arch, 'aarch64');
  assert.deepEqual((await releaseArchOf(join(dir, 'tiny'), undefined, 'tiny')).arch, undefined);
  await assert.rejects(releaseArchOf(join(dir, 'Image'), 'x86_64', 'Image'), /is aarch64/);
});
