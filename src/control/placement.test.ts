import { test } from 'node:test';
import assert from 'node:assert/strict';
import { choosePlacement, releaseNeed, type Placement, type PlacementHost, type PlacementNeed } from './placement.js';
import type { Manifest } from '../core/types.js';

const h = (id: string, o: Partial<PlacementHost> = {}): PlacementHost => ({ id, offers: true, runsArch: true, reachable: true, instances: 0, ...o });
const qemuArm: PlacementNeed = { target: 'qemu', arch: 'aarch64', archFrom: 'arm64 Linux Image ("ARM\\x64" at 0x38)' };

test('choosePlacement: the table of decisions', () => {
  const table: [string, PlacementHost[], PlacementNeed, Placement | RegExp][] = [
    ['no arch: the host with the fewest instances', [h('a', { instances: 2 }), h('b', { instances: 1 })], { target: 'qemu' }, { host: 'b' }],
    ['arch: only a host that runs it, though it has more instances',
      [h('x86', { runsArch: false }), h('arm', { instances: 5 })], qemuArm, { host: 'arm' }],
    ['arch: a reachable host that runs it before an unreachable one with fewer',
      [h('far', { reachable: false }), h('near', { instances: 3 })], qemuArm, { host: 'near' }],
    ['arch: only an unreachable host runs it: it waits there',
      [h('x86', { runsArch: false }), h('far', { reachable: false })], qemuArm, { host: 'far' }],
    ['arch no host runs: refused, naming the arch, the artifact, [run].arch and summon hosts',
      [h('a', { runsArch: false }), h('b', { runsArch: false })], qemuArm,
      /^no host runs aarch64 for the qemu runtime \(the artifact is aarch64: arm64 Linux Image .*\): see which architectures each host runs with `summon hosts`.*\[run\]\.arch/],
    ['arch from [run].arch: the reason says so', [h('a', { runsArch: false })], { target: 'process', arch: 'aarch64', archFrom: '[run].arch' },
      /\(\[run\]\.arch asks for it\)/],
    ['a host that runs the arch but has no such runtime is no use', [h('a', { offers: false }), h('b', { runsArch: false })], qemuArm, /^no host runs aarch64/],
    ['no host offers the target: any host (its agent says why it cannot start it)',
      [h('a', { offers: false, instances: 1 }), h('b', { offers: false })], { target: 'solo5-hvt' }, { host: 'b' }],
    ['no host offers the target, arch asked: still any host', [h('a', { offers: false, runsArch: false })], qemuArm, { host: 'a' }],
    ['unreachable hosts only, no arch', [h('a', { reachable: false, instances: 1 }), h('b', { reachable: false })], { target: 'qemu' }, { host: 'b' }],
  ];
  for (const [what, hosts, need, want] of table) {
    const got = choosePlacement(hosts, need);
    if (want instanceof RegExp) {
      assert.ok('refused' in got, `${what}: ${JSON.stringify(got)}`);
      assert.match(got.refused, want, what);
    } else {
      assert.deepEqual(got, want, what);
    }
  }
});

test('releaseNeed: the build\'s record first, then [run].arch, else no arch', () => {
  const m = (arch?: 'aarch64' | 'x86_64') => ({ run: { target: 'qemu', ...(arch ? { arch } : {}) } }) as unknown as Manifest;
  const bm = (arch?: 'aarch64' | 'x86_64') => ({ artifact: { ...(arch ? { arch, archFrom: 'hdr' } : {}) } }) as never;
  assert.deepEqual(releaseNeed({ manifest: m(), buildManifest: bm('aarch64') }), { target: 'qemu', arch: 'aarch64', archFrom: 'hdr' });
  assert.deepEqual(releaseNeed({ manifest: m('aarch64'), buildManifest: bm() }), { target: 'qemu', arch: 'aarch64', archFrom: '[run].arch' });
  assert.deepEqual(releaseNeed({ manifest: m('x86_64'), buildManifest: null }), { target: 'qemu', arch: 'x86_64', archFrom: '[run].arch' });
  assert.deepEqual(releaseNeed({ manifest: m(), buildManifest: null }), { target: 'qemu' });
});
