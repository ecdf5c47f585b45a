import { test } from 'node:test';
import assert from 'node:assert/strict';
import { choosePlacement, planPlacement, releaseNeed, type Placement, type PlacementHost, type PlacementNeed } from './placement.js';
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

const GiB = 2 ** 30;
const MiB = 2 ** 20;

test('choosePlacement: labels, regions, drain and capacity', () => {
  const eu = { region: 'eu' };
  const us = { region: 'us' };
  const table: [string, PlacementHost[], PlacementNeed, Placement | RegExp][] = [
    ['spread: the host with none of this app before one with fewer instances in all',
      [h('a', { instances: 1, appInstances: 1 }), h('b', { instances: 5, appInstances: 0 })], { target: 'process' }, { host: 'b' }],
    ['regions: spread across regions before hosts (b is empty but in the region that has one)',
      [h('a', { labels: eu, appInstances: 1, instances: 1 }), h('b', { labels: eu }), h('c', { labels: us, instances: 3 })], { target: 'process' }, { host: 'c' }],
    ['[scale].regions: only hosts of those regions, though busier',
      [h('a', { labels: eu, instances: 9 }), h('b', { labels: us })], { target: 'process', regions: ['eu'] }, { host: 'a' }],
    ['[scale].regions: a host with no region label is not in any',
      [h('a'), h('b', { labels: us })], { target: 'process', regions: ['eu'] }, /^no host that runs the process runtime is labelled region eu \(\[scale\]\.regions\): see each host's labels with `summon hosts`, join one with `summon hosts:join-token --label region=eu`/],
    ['[scale].host_labels: every label must match',
      [h('a', { labels: { disk: 'ssd' } }), h('b', { labels: { disk: 'ssd', gpu: 'yes' }, instances: 4 })], { target: 'process', labels: { disk: 'ssd', gpu: 'yes' } }, { host: 'b' }],
    ['draining: skipped though emptiest', [h('a', { draining: true }), h('b', { instances: 3 })], { target: 'process' }, { host: 'b' }],
    ['draining: every candidate draining is refused, saying so', [h('a', { draining: true }), h('b', { draining: true })], { target: 'process' },
      /^every host that could run it is draining \(a, b\)/],
    ['capacity: a host without the memory free is skipped',
      [h('a', { memoryBytes: GiB, usedMemoryBytes: GiB - 64 * MiB }), h('b', { memoryBytes: GiB, usedMemoryBytes: 512 * MiB, instances: 4 })],
      { target: 'process', memoryBytes: 128 * MiB }, { host: 'b' }],
    ['capacity: exactly full fits', [h('a', { memoryBytes: 256 * MiB, usedMemoryBytes: 128 * MiB })], { target: 'process', memoryBytes: 128 * MiB }, { host: 'a' }],
    ['capacity: none has room: refused naming the most free',
      [h('a', { memoryBytes: GiB, usedMemoryBytes: GiB }), h('b', { memoryBytes: GiB, usedMemoryBytes: 1000 * MiB })], { target: 'process', memoryBytes: 128 * MiB },
      /^no host has 128 MiB free for another instance \(\[run\]\.memory\): the most free is 24 MiB on b; add a host/],
    ['capacity unknown: no limit', [h('a', { usedMemoryBytes: 100 * GiB })], { target: 'process', memoryBytes: 128 * MiB }, { host: 'a' }],
    ['arch before labels: the arch refusal wins', [h('a', { runsArch: false, labels: eu })], { ...qemuArm, regions: ['us'] }, /^no host runs aarch64/],
    ['reachable before unreachable, within the labelled', [h('far', { labels: eu, reachable: false }), h('near', { labels: eu, instances: 2, appInstances: 2 }), h('us', { labels: us })],
      { target: 'process', regions: ['eu'] }, { host: 'near' }],
    ['ties: the lowest id', [h('b'), h('a'), h('c')], { target: 'process' }, { host: 'a' }],
    ['no host offers the target: a host not draining', [h('a', { offers: false, draining: true }), h('b', { offers: false, instances: 2 })], { target: 'solo5-hvt' }, { host: 'b' }],
    ['no hosts at all', [], { target: 'process' }, /^no hosts$/],
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

test('planPlacement: instances spread over regions and hosts, stopping at capacity', () => {
  const hosts = [
    h('eu1', { labels: { region: 'eu' }, memoryBytes: GiB }), h('eu2', { labels: { region: 'eu' }, memoryBytes: GiB }),
    h('us1', { labels: { region: 'us' }, memoryBytes: 256 * MiB }),
  ];
  const need: PlacementNeed = { target: 'process', memoryBytes: 256 * MiB };
  assert.deepEqual(planPlacement(hosts, need, 3), { hosts: ['eu1', 'us1', 'eu2'] });
  // us1 is full after one; the rest alternate between eu1 and eu2 until they are full too.
  const all = planPlacement(hosts, need, 10);
  assert.deepEqual(all.hosts, ['eu1', 'us1', 'eu2', 'eu1', 'eu2', 'eu1', 'eu2', 'eu1', 'eu2']);
  assert.ok('refused' in all);
  assert.match(all.refused, /^no host has 256 MiB free/);
  // The input snapshot is not changed.
  assert.equal(hosts[0].appInstances ?? 0, 0);
  const us = planPlacement(hosts, { ...need, regions: ['us'] }, 2);
  assert.deepEqual(us.hosts, ['us1']);
  assert.ok('refused' in us && /^no host has 256 MiB free .* on us1/.test(us.refused), JSON.stringify(us));
});

test('releaseNeed: [run].memory, [scale].regions and [scale].host_labels', () => {
  const manifest = { run: { target: 'process', memoryBytes: 128 * MiB }, scale: { regions: ['eu'], hostLabels: { disk: 'ssd' } } } as unknown as Manifest;
  assert.deepEqual(releaseNeed({ manifest, buildManifest: null }), { target: 'process', memoryBytes: 128 * MiB, regions: ['eu'], labels: { disk: 'ssd' } });
});
