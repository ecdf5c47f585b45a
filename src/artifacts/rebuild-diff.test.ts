import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import type { BuildManifest } from '../core/types.js';
import { compareBuilds, firstDifference } from './rebuild-diff.js';

const base: BuildManifest = {
  schema: 'summon.build/v1', app: 'web', commit: 'c'.repeat(40), tree: 't'.repeat(40), ref: 'refs/heads/main', summonTomlSha256: 's'.repeat(64),
  build: { command: 'make', test: null, timeoutMs: 60_000 },
  platform: { os: 'Debian 12', arch: 'x64', kernel: '6.1.0', node: 'v20.19.0', summon: '0.1.0' },
  toolchain: [{ command: 'cc --version', output: 'gcc 12.2.0\nCopyright', exitCode: 0 }],
  lockfiles: [{ path: 'package-lock.json', sha256: 'l'.repeat(64) }],
  artifact: { path: 'app.exe', sha256: 'a'.repeat(64), size: 100, target: 'process' },
  steps: [], startedAt: 0, finishedAt: 1,
};

test('compareBuilds: the same bytes are reproducible; each input that moved is named, the likely cause first', () => {
  const cases: [string, Partial<BuildManifest>, 'reproducible' | 'differs', RegExp[]][] = [
    ['identical', {}, 'reproducible', []],
    ['another time of day, same bytes', { startedAt: 5, finishedAt: 9, platform: { ...base.platform, kernel: '6.2.0' } }, 'reproducible', []],
    ['a compiler upgrade that changed the bytes', { toolchain: [{ command: 'cc --version', output: 'gcc 13.1.0', exitCode: 0 }], artifact: { ...base.artifact, sha256: 'b'.repeat(64), size: 104 } }, 'differs',
      [/^toolchain: cc --version: "gcc 12\.2\.0" then, "gcc 13\.1\.0" now$/, /^artifact app\.exe: sha256 aaaaaaaaaaaa… then, bbbbbbbbbbbb… now; 100 bytes then, 104 now; first difference at byte 7/]],
    ['a lockfile that moved', { lockfiles: [{ path: 'package-lock.json', sha256: 'm'.repeat(64) }], artifact: { ...base.artifact, sha256: 'b'.repeat(64) } }, 'differs', [/^lockfile package-lock\.json: sha256 llllllllllll then, mmmmmmmmmmmm now$/, /^artifact/]],
    ['a new toolchain line only', { toolchain: [...base.toolchain, { command: 'ld --version', output: 'GNU ld', exitCode: 0 }] }, 'reproducible', [/^toolchain: ld --version is new in the rebuild$/]],
    ['another initrd', { artifact: { ...base.artifact, initrdSha256: 'i'.repeat(64) } }, 'differs', [/^initrd: sha256 none then, iiiiiiiiiiii now$/]],
  ];
  for (const [what, change, result, lines] of cases) {
    const v = compareBuilds(base, { ...base, ...change }, { artifact: 'first difference at byte 7 (0x7)', initrd: null });
    assert.equal(v.result, result, what);
    assert.equal(v.differences.length, lines.length, `${what}: ${v.differences.join(' | ')}`);
    lines.forEach((re, i) => assert.match(v.differences[i], re, what));
  }
});

test('firstDifference: the offset of the first differing byte, a prefix, or none', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'summon-rebuild-diff-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const f = async (name: string, b: Buffer) => {
    await writeFile(join(dir, name), b);
    return join(dir, name);
  };
  const big = Buffer.alloc(200_000, 7);
  const other = Buffer.from(big);
  other[150_001] = 8;
  assert.equal(await firstDifference(await f('a', big), await f('b', Buffer.from(big))), null);
  assert.equal(await firstDifference(await f('c', big), await f('d', other)), 'first difference at byte 150001 (0x249f1)');
  assert.equal(await firstDifference(await f('e', big), await f('g', big.subarray(0, 70_000))), 'one is a prefix of the other: they part at byte 70000');
});
