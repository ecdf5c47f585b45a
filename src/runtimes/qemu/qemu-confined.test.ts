// The qemu runtime with a Confiner, as `summon up` runs it: the real vm-hello guest boots
// under a QEMU that runs as the app's own uid/gid with no capabilities, in the instance's
// cgroup unit, reading its kernel and initrd from a 0700 directory it cannot walk (they are
// handed to it open); a stop or a crash leaves the unit empty and removed, and a QEMU over
// its unit's memory is reported oom-killed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QEMU_MEMORY_OVERHEAD, QEMU_PIDS_LIMIT, QemuRuntime } from './qemu-runtime.js';
import type { InstanceSpec, InstanceStatus } from '../runtime.js';
import { buildVmHello, hasQemu } from './vm-hello-fixture.js';
import { freePort, httpGet, waitFor } from '../../testing/wait.js';
import { Confiner } from '../../isolation/confine.js';

const BOOT_MS = 30_000;

/** The fields of /proc/PID/status this test reads. */
async function procStatus(pid: number): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const line of (await readFile(`/proc/${pid}/status`, 'utf8')).split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

const why = !(await hasQemu()) ? 'qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)'
  : process.getuid?.() !== 0 ? 'confinement needs root (it switches QEMU to the app\'s user)' : false;

test('qemu runtime confined: the app\'s user, no capabilities, its own cgroup unit', { skip: why }, async (t) => {
  const img = await buildVmHello();
  const root = await mkdtemp(join(tmpdir(), 'summon-qemu-confined-')); // 0700, like DATA
  const data = join(root, 'data');
  await mkdir(data, { mode: 0o700 });
  const confiner = await Confiner.create(data);
  if ('unavailable' in confiner) throw new Error(`confinement is unavailable here: ${confiner.unavailable}`);
  // The blobs as the blob store keeps them: 0555, in directories only root may walk.
  const blobs = join(data, 'blobs');
  await mkdir(blobs, { mode: 0o700 });
  const kernel = join(blobs, 'kernel');
  const initrd = join(blobs, 'initrd');
  for (const [from, to] of [[img.kernel, kernel], [img.initrd, initrd]] as const) {
    await copyFile(from, to);
    await chmod(to, 0o555);
  }
  const stateDir = join(data, 'agent');
  const rt = new QemuRuntime({ stateDir, confiner, defaultGraceMs: 10_000 });
  const exits = new Map<string, InstanceStatus>();
  rt.onExit((id, st) => exits.set(id, st));
  const started: { rt: QemuRuntime; id: string }[] = [];
  t.after(async () => {
    await Promise.all(started.map((s) => s.rt.stop(s.id, { graceMs: 0 })));
    await confiner.reap();
    await rm(root, { recursive: true, force: true });
  });
  const uid = await confiner.uids.uidFor('vm-confined');
  const unitDirs = (id: string) => confiner.cgroups.describe().map((h) => ({ ...h, dir: join(h.root, id) }));
  let n = 0;
  const spec = async (over: Partial<InstanceSpec> = {}, on = rt): Promise<InstanceSpec> => {
    n += 1;
    const workDir = join(data, 'instances', `vmc-${n}`);
    await mkdir(workDir, { recursive: true });
    const s: InstanceSpec = {
      id: `vmc-${n}`, app: 'vm-confined', version: 3, target: 'qemu', artifactPath: kernel, initrdPath: initrd,
      args: [], env: { GREETING: 'confined' }, guestPort: 8080, memoryBytes: 128 * 1024 * 1024,
      workDir, hostPort: await freePort(), ...over,
    };
    started.push({ rt: on, id: s.id });
    return s;
  };

  await t.test('boots and serves; QEMU runs as the app\'s uid/gid with CapEff 0, in the unit\'s cgroups with its limits; stop removes the unit', async () => {
    const s = await spec({ cpu: 1 });
    const h = await rt.start(s, () => {});
    assert.ok(h.pid && h.pid > 1);
    const res = await waitFor(() => httpGet(`http://${h.address}:${h.port}/`, { timeoutMs: 2000 }).catch(() => undefined),
      { timeoutMs: BOOT_MS, what: 'the confined guest to serve' });
    assert.equal(res.body.trim(), `hello from vm-hello release v3 instance ${s.id} confined`);

    const st = await procStatus(h.pid);
    assert.equal(st.Name, 'qemu-system-x86');
    assert.deepEqual(st.Uid!.split(/\s+/), [uid, uid, uid, uid].map(String), `Uid: ${st.Uid}`);
    assert.deepEqual(st.Gid!.split(/\s+/), [uid, uid, uid, uid].map(String), `Gid: ${st.Gid}`);
    assert.equal(st.Groups, existsSync('/dev/kvm') && (await stat('/dev/kvm')).gid !== 0 ? String((await stat('/dev/kvm')).gid) : '');
    for (const k of ['CapEff', 'CapPrm', 'CapInh', 'CapBnd', 'CapAmb']) assert.equal(st[k], '0000000000000000', `${k}: ${st[k]}`);
    assert.equal(st.NoNewPrivs, '1');
    assert.equal(st.Seccomp, '2', 'QEMU\'s own -sandbox filter is on');
    // In every cgroup of its unit, with [run].memory + QEMU's overhead, the pids limit and [run].cpu.
    const dirs = unitDirs(s.id);
    assert.ok(dirs.length > 0, 'this host gives Summon cgroups');
    for (const d of dirs) {
      const procs = (await readFile(join(d.dir, 'cgroup.procs'), 'utf8')).split('\n').filter(Boolean).map(Number);
      assert.deepEqual(procs, [h.pid], `${d.controller} cgroup holds QEMU alone`);
      const limit = async (v1: string, v2: string) => (await readFile(join(d.dir, d.version === 1 ? v1 : v2), 'utf8')).trim();
      if (d.controller === 'memory') assert.equal(Number(await limit('memory.limit_in_bytes', 'memory.max')), s.memoryBytes + QEMU_MEMORY_OVERHEAD);
      if (d.controller === 'pids') assert.equal(await limit('pids.max', 'pids.max'), String(QEMU_PIDS_LIMIT));
      if (d.controller === 'cpu') assert.match(await limit('cpu.cfs_quota_us', 'cpu.max'), /^100000\b/);
    }
    // The work dir is the app user's, 0700; QEMU made its socket and console there as that user.
    const wd = await stat(s.workDir);
    assert.deepEqual([wd.uid, wd.gid, wd.mode & 0o777], [uid, uid, 0o700]);
    assert.equal((await stat(join(s.workDir, 'console.log'))).uid, uid);
    await assert.rejects(stat(join(s.workDir, 'summon-env')), /ENOENT/);
    // The blobs reach it as open files, not by a path through the 0700 directories.
    const argv = (await readFile(`/proc/${h.pid}/cmdline`, 'utf8')).split('\0');
    assert.deepEqual([argv[argv.indexOf('-kernel') + 1], argv[argv.indexOf('-initrd') + 1]], ['/dev/fd/3', '/dev/fd/4']);
    assert.ok(!argv.some((a) => a.includes(blobs)), argv.join(' '));
    assert.match(argv[argv.indexOf('-accel') + 1]!, /^kvm$|,tb-size=64$/);
    const rec = JSON.parse(await readFile(join(stateDir, 'qemu', `${s.id}.json`), 'utf8')) as { tap?: string };
    if (rec.tap) {
      // Its tap belongs to the app's user: QEMU attached to it without CAP_NET_ADMIN.
      assert.equal((await readFile(`/sys/class/net/${rec.tap}/owner`, 'utf8')).trim(), String(uid));
    }

    await rt.stop(s.id, { graceMs: 30_000 });
    assert.equal(exits.get(s.id)?.exitCode, 0, 'the guest powered off');
    assert.equal(exits.get(s.id)?.oomKilled, undefined);
    for (const d of dirs) assert.equal(existsSync(d.dir), false, `${d.controller} unit removed`);
    if (rec.tap) assert.equal(existsSync(`/sys/class/net/${rec.tap}`), false);
  });

  await t.test('a crash (SIGKILL of QEMU) leaves no unit behind', async () => {
    const s = await spec({ network: 'user' });
    const h = await rt.start(s, () => {});
    assert.equal((await procStatus(h.pid!)).Uid!.split(/\s+/)[0], String(uid));
    const dirs = unitDirs(s.id);
    assert.ok(dirs.every((d) => existsSync(d.dir)));
    process.kill(h.pid!, 'SIGKILL');
    const ex = await waitFor(() => exits.get(s.id), { timeoutMs: 10_000, what: 'onExit after SIGKILL' });
    assert.equal(ex.signal, 'SIGKILL');
    for (const d of dirs) assert.equal(existsSync(d.dir), false, `${d.controller} unit removed`);
  });

  await t.test('a QEMU over its unit\'s memory is OOM-killed and reported so', async (tt) => {
    if (!confiner.cgroups.has('memory')) {
      tt.skip('no memory controller for Summon on this host');
      return;
    }
    // 8 MiB above the guest's memory cannot hold QEMU itself (≈150 MiB): the kernel kills it.
    const tight = new QemuRuntime({ stateDir, confiner, memoryOverheadBytes: 8 * 1024 * 1024 });
    const seen = new Map<string, InstanceStatus>();
    tight.onExit((id, st) => seen.set(id, st));
    const s = await spec({ network: 'user' }, tight);
    // Killed while starting (start() rejects, saying so) or just after: either way the exit says oom-killed.
    const err = await tight.start(s, () => {}).then(() => undefined, (e: Error) => e);
    if (err) assert.match(err.message, /out of memory: killed at its unit's limit of 136 MiB \(\[run\]\.memory 128 MiB \+ 8 MiB for QEMU\)/);
    const ex = await waitFor(() => seen.get(s.id), { timeoutMs: BOOT_MS, what: 'the OOM kill' });
    assert.equal(ex.oomKilled, true, JSON.stringify(ex));
    assert.equal(ex.signal, 'SIGKILL');
    for (const d of unitDirs(s.id)) assert.equal(existsSync(d.dir), false);
  });
});
