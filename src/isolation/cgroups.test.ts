// Where Summon's cgroup units go, per controller, on the hierarchies hosts have: v1 only,
// v2 only, and hybrid (this machine: v1 memory/cpu/pids, a v2 mount at /sys/fs/cgroup/unified).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CgroupTree, locateHierarchies } from './cgroups.js';

const V1 = [
  '30 25 0:26 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,memory',
  '31 25 0:27 / /sys/fs/cgroup/cpu rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,cpu',
  '32 25 0:28 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,pids',
].join('\n');
const UNIFIED = '29 25 0:25 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:11 - cgroup2 cgroup2 rw';
const V2_ONLY = '29 25 0:25 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:11 - cgroup2 cgroup2 rw,nsdelegate';

test('hybrid host: every controller from v1, under the cgroup Summon runs in', () => {
  const h = locateHierarchies(`${V1}\n${UNIFIED}`, '8:pids:/test-7\n4:memory:/api/abc\n1:cpu:/\n0::/\n', () => ['hugetlb'], 'k1');
  assert.deepEqual(h, [
    { controller: 'memory', version: 1, root: '/sys/fs/cgroup/memory/api/abc/summon-k1' },
    { controller: 'cpu', version: 1, root: '/sys/fs/cgroup/cpu/summon-k1' },
    { controller: 'pids', version: 1, root: '/sys/fs/cgroup/pids/test-7/summon-k1' },
  ]);
});

test('v2-only host: the controllers its cgroup offers, under it', () => {
  const asked: string[] = [];
  const h = locateHierarchies(V2_ONLY, '0::/system.slice/summon.service\n', (dir) => {
    asked.push(dir);
    return ['cpuset', 'cpu', 'io', 'memory', 'pids'];
  }, 'k2');
  assert.deepEqual(asked, ['/sys/fs/cgroup/system.slice/summon.service', '/sys/fs/cgroup/system.slice/summon.service', '/sys/fs/cgroup/system.slice/summon.service']);
  assert.deepEqual(h.map((x) => [x.controller, x.version, x.root]), [
    ['memory', 2, '/sys/fs/cgroup/system.slice/summon.service/summon-k2'],
    ['cpu', 2, '/sys/fs/cgroup/system.slice/summon.service/summon-k2'],
    ['pids', 2, '/sys/fs/cgroup/system.slice/summon.service/summon-k2'],
  ]);
});

test('a controller neither hierarchy has is left out (limits it would hold are not claimed)', () => {
  const h = locateHierarchies(`${V1.split('\n')[0]}\n${UNIFIED}`, '4:memory:/\n0::/\n', () => ['pids'], 'k3');
  assert.deepEqual(h.map((x) => [x.controller, x.version]), [['memory', 1], ['pids', 2]]);
  assert.deepEqual(locateHierarchies('', '', () => [], 'k4'), []);
});

test('v2 units: the controllers handed down and the limits written in v2\'s files (a directory standing in for cgroupfs)', async (t) => {
  const fs = await mkdtemp(join(tmpdir(), 'summon-cgroup2-'));
  t.after(() => rm(fs, { recursive: true, force: true }));
  const own = join(fs, 'system.slice', 'summon.service');
  await mkdir(own, { recursive: true });
  await writeFile(join(fs, 'system.slice', 'cgroup.subtree_control'), 'memory pids cpu');
  await writeFile(join(own, 'cgroup.subtree_control'), '');
  const root = join(own, 'summon-k5');
  const tree = CgroupTree.over((['memory', 'cpu', 'pids'] as const).map((controller) => ({ controller, version: 2 as const, root })));
  const unit = await tree.unit('web-1', { memoryBytes: 64 * 1024 * 1024, cpu: 0.5, pids: 128 });
  const read = (f: string) => readFile(join(root, 'web-1', f), 'utf8');
  assert.equal(await read('memory.max'), String(64 * 1024 * 1024));
  assert.equal(await read('memory.swap.max'), '0');
  assert.equal(await read('pids.max'), '128');
  assert.equal(await read('cpu.max'), '50000 100000');
  // A plain directory keeps only the last write; cgroupfs would have accumulated +memory +cpu +pids.
  assert.match(await readFile(join(own, 'cgroup.subtree_control'), 'utf8'), /^\+(memory|cpu|pids)$/);
  assert.match(await readFile(join(root, 'cgroup.subtree_control'), 'utf8'), /^\+(memory|cpu|pids)$/);
  assert.deepEqual(unit.procFiles, [join(root, 'web-1', 'cgroup.procs')]);
  const none = await tree.unit('web-2', {});
  assert.equal(await readFile(join(root, 'web-2', 'memory.max'), 'utf8'), 'max');
  assert.equal(await readFile(join(root, 'web-2', 'cpu.max'), 'utf8'), 'max 100000');
  assert.equal(await readFile(join(root, 'web-2', 'pids.max'), 'utf8'), 'max');
  assert.deepEqual(none.controllers, ['memory', 'cpu', 'pids']);
});

test('release() removes this Summon\'s directory once no unit is left in it, and keeps it while one is (real cgroupfs)', async (t) => {
  const mount = '/sys/fs/cgroup/pids';
  const root = join(mount, `summon-release-test-${process.pid}`);
  try {
    await mkdir(root);
  } catch (e) {
    return t.skip(`cannot make a pids cgroup under ${mount}: ${(e as Error).message}`);
  }
  t.after(async () => {
    await rmdir(join(root, 'web-1')).catch(() => undefined);
    await rmdir(root).catch(() => undefined);
  });
  const tree = CgroupTree.over([{ controller: 'pids', version: 1, root }]);
  const unit = await tree.unit('web-1', {});
  assert.deepEqual(await tree.release(), [], 'a unit is still in it: kept');
  assert.ok(existsSync(root));
  await unit.remove();
  assert.deepEqual(await tree.release(), [root]);
  assert.equal(existsSync(root), false);
  assert.deepEqual(await tree.release(), [], 'already gone: nothing to do, no error');
});
