// The qemu target end to end: Summon as a real process, vm-hello pushed with real git and
// booted under QEMU (TCG on these hosts), served through the router, rolled, killed, scaled
// to zero and woken, exported as a disk that boots on a plain QEMU; and a push to a solo5
// target on a host without the tender is refused with what to install.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  assertCutOver, cli, cliJson, commitAll, editFile, exampleRepo, push, startLoad, startSummonProcess, tempDir, viaRouter, vmCache,
  type SummonProcess,
} from './harness.js';
import { freePort, httpGet, waitFor } from '../../src/testing/wait.js';
import { hasQemu } from '../../src/runtimes/qemu/vm-hello-fixture.js';
import { TapPool } from '../../src/runtimes/tap-net.js';

interface Inst { id: string; state: string; version: number; pid: number | null }
interface HostJson { runtimes: { target: string; available: boolean; accel?: string; kvm?: boolean; reason: string }[] }

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

const BOOT_MS = 30_000;
const tapsHere = (await new TapPool().capability()).ok;

if (!(await hasQemu())) {
  test('qemu target end to end', { skip: 'qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)' }, () => {});
} else {
  test('qemu target end to end', async (t) => {
    const root = await tempDir('vm');
    const s: SummonProcess = await startSummonProcess(join(root, 'data'));
    t.after(async () => {
      await s.stop();
      await rm(root, { recursive: true, force: true });
    });
    const cache = await vmCache();
    const ps = async (app: string): Promise<Inst[]> => {
      const r = await cli(s, 'ps', '-a', app, '--json');
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as Inst[];
    };
    const healthyOf = (app: string, version: number, n: number, not: (i: Inst) => boolean = () => false) => waitFor(async () => {
      const list = await ps(app);
      const ok = list.filter((i) => i.state === 'healthy' && i.version === version && !not(i));
      return ok.length === n && list.length === n ? list : undefined;
    }, { timeoutMs: BOOT_MS, what: `${n} healthy instances of ${app} v${version}` });
    /** apps:create, the build cache as a config var (builds see config vars), then git push. */
    const createAndPush = async (app: string, repo: string) => {
      const created = await cli(s, 'apps:create', app);
      assert.equal(created.code, 0, created.stderr);
      assert.equal((await cli(s, 'config:set', '-a', app, `SUMMON_VM_CACHE=${cache}`)).code, 0);
      return push(s, repo, app);
    };

    await t.test('summon hosts lists qemu as available with the acceleration and why', async () => {
      const r = await cli(s, 'hosts', '--json');
      assert.equal(r.code, 0, r.stderr);
      const rts = (JSON.parse(r.stdout) as HostJson[])[0].runtimes;
      const q = rts.find((x) => x.target === 'qemu');
      assert.ok(q, `qemu offered: ${r.stdout}`);
      assert.equal(q.available, true, q.reason);
      assert.match(q.accel ?? '', /^(kvm|tcg)$/);
      assert.match(q.reason, /kvm: (yes|no|unknown)/);
      if (q.accel === 'tcg') assert.match(q.reason, /using tcg/);
      for (const target of ['process', 'solo5-hvt', 'solo5-spt']) assert.ok(rts.some((x) => x.target === target), `${target} offered`);
      const table = await cli(s, 'hosts');
      assert.match(table.stdout, /qemu\s.*\byes\b.*kvm:/);
      // Where Summon can make taps, each VM instance gets one of its own, and hosts says so.
      if (tapsHere) assert.match(q.reason, /network: tap devices, one \/30 each from 10\.201\.0\.0\/16/);
      t.diagnostic(`qemu: ${q.reason}`);
    });

    const repo = await exampleRepo('vm-hello');
    await t.test('push vm-hello (target qemu): 200 through the router', async () => {
      const t0 = Date.now();
      const r = await createAndPush('vmweb', repo);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /target qemu/);
      assert.match(r.stderr, /Released v1/);
      const res = await viaRouter(s, 'vmweb');
      assert.equal(res.status, 200);
      assert.match(res.body, /hello from vm-hello release v1 instance vmweb-/);
      t.diagnostic(`push to first 200: ${Date.now() - t0} ms`);
      // On its tap, the instance is reached at the guest's own address and port.
      const [inst] = (await cliJson(s, 'ps', '-a', 'vmweb', '--json')) as (Inst & { address: string; port: number })[];
      if (tapsHere) assert.deepEqual([/^10\.201\.\d+\.\d+$/.test(inst.address), inst.port], [true, 8080], JSON.stringify(inst));
    });

    await t.test('two VM instances under light load, push v2: zero failed requests', async () => {
      const scaled = await cli(s, 'ps:scale', '-a', 'vmweb', '2');
      assert.equal(scaled.code, 0, scaled.stderr);
      // ps:scale holds the count only for the scale-in window (60 s); booting TCG guests
      // under load, this step and the next can outlast it, and an idle app would then be
      // scaled in to 1 while the next step waits for 2. The count is pinned the way ps:scale
      // itself says to, so what follows runs at exactly 2 instances.
      assert.match(scaled.stdout, /To fix the count, `summon autoscale -a vmweb --min 2 --max 2`/);
      const pinned = await cli(s, 'autoscale', '-a', 'vmweb', '--min', '2', '--max', '2');
      assert.equal(pinned.code, 0, pinned.stderr);
      assert.match(pinned.stdout, /min 2, max 2.*; 2 instance\(s\) now/);
      await healthyOf('vmweb', 1, 2);
      const load = startLoad(s, 'vmweb', { rate: 10, max: 100_000, concurrency: 4 });
      await waitFor(() => load.completed() >= 50, { timeoutMs: 20_000, what: 'the load to run' });
      await commitAll(repo, 'v2');
      const startedPush = Date.now();
      const r = await push(s, repo, 'vmweb');
      const pushedAt = Date.now();
      const doneAtPush = load.completed();
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /Released v2/);
      t.diagnostic(`push v2 under load: ${pushedAt - startedPush} ms`);
      await waitFor(() => load.completed() >= doneAtPush + 50, { timeoutMs: 30_000, what: 'load after the push' });
      const sum = await load.stop();
      assertCutOver(sum, pushedAt, 10);
      await healthyOf('vmweb', 2, 2);
    });

    await t.test('SIGKILL a qemu process: the instance is replaced and serves again', async () => {
      const before = await healthyOf('vmweb', 2, 2);
      const victim = before[0];
      assert.ok(victim.pid, 'ps shows the qemu pid');
      const cmdline = await run('cat', [`/proc/${victim.pid}/cmdline`]);
      assert.match(cmdline.stdout, /qemu-system-x86_64/, 'the pid is a qemu process');
      const killedAt = Date.now();
      process.kill(victim.pid, 'SIGKILL');
      const list = await healthyOf('vmweb', 2, 2, (i) => i.pid === victim.pid);
      t.diagnostic(`kill → 2 healthy again: ${Date.now() - killedAt} ms`);
      assert.ok(list.every((i) => i.pid !== victim.pid));
      const events = (await cliJson(s, 'events', '-a', 'vmweb', '--json', '-n', '200')) as { type: string; at: number; data: { instance?: string } }[];
      assert.ok(events.some((e) => e.type === 'instance.crashed' && e.data.instance === victim.id && e.at >= killedAt - 50), 'the crash is recorded');
      for (let i = 0; i < 4; i++) assert.equal((await viaRouter(s, 'vmweb')).status, 200);
    });

    await t.test('images:export --format raw boots on a plain qemu and serves; gce is a tar.gz of disk.raw', async () => {
      const raw = join(root, 'vmweb.raw');
      const t0 = Date.now();
      const r = await cli(s, 'images:export', '-a', 'vmweb', '--format', 'raw', '-o', raw);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Wrote .*vmweb\.raw \(v2 of vmweb, raw/);
      assert.match(r.stderr, /MiB.*done/);
      t.diagnostic(`raw export: ${Date.now() - t0} ms`);
      const port = await freePort();
      const qemu = spawn('qemu-system-x86_64', [
        '-nodefaults', '-no-user-config', '-display', 'none', '-accel', 'tcg', '-m', '128M', '-no-reboot',
        '-drive', `file=${raw},format=raw`,
        '-netdev', `user,id=n0,hostfwd=tcp:127.0.0.1:${port}-:8080`, '-device', 'virtio-net-pci,netdev=n0',
        '-serial', `file:${join(root, 'export-console.log')}`,
      ], { stdio: 'ignore' });
      const exited = new Promise((res) => qemu.once('exit', res));
      try {
        const res = await waitFor(() => httpGet(`http://127.0.0.1:${port}/`, { timeoutMs: 1000 }).catch(() => undefined), { timeoutMs: 45_000, intervalMs: 100, what: 'the exported disk to boot and answer HTTP' });
        assert.equal(res.status, 200);
        assert.match(res.body, /hello from vm-hello release v2 instance vmweb-v2-disk/);
        t.diagnostic(`export → booted and serving: ${Date.now() - t0} ms`);
      } finally {
        qemu.kill('SIGKILL');
        await exited;
      }

      const gce = join(root, 'vmweb.tar.gz');
      const g = await cli(s, 'images:export', '-a', 'vmweb', 'v2', '--format', 'gce', '-o', gce);
      assert.equal(g.code, 0, g.stderr);
      const list = await run('tar', ['-tzf', gce]);
      assert.equal(list.code, 0, list.stderr);
      assert.deepEqual(list.stdout.split('\n').filter(Boolean), ['disk.raw']);

      const bad = await cli(s, 'images:export', '-a', 'vmweb', '--format', 'vmdk', '-o', join(root, 'x'));
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /--format must be one of raw, gce, got "vmdk"/);
    });

    await t.test('[scale] min = 0 on qemu: idles to 0 instances and wakes on a request', async () => {
      const idleRepo = await exampleRepo('vm-hello', (d) => editFile(d, 'summon.toml', (x) => `${x}\n[scale]\nmin = 0\nidle_timeout = "2s"\n`));
      const r = await createAndPush('vmidle', idleRepo);
      assert.equal(r.code, 0, r.stderr);
      await waitFor(async () => (await ps('vmidle')).length === 0, { timeoutMs: 20_000, what: 'vmidle to scale to zero' });
      const t0 = Date.now();
      const res = await viaRouter(s, 'vmidle');
      assert.equal(res.status, 200);
      assert.match(res.body, /hello from vm-hello release v1/);
      t.diagnostic(`wake from zero to 200: ${Date.now() - t0} ms`);
      const events = (await cliJson(s, 'events', '-a', 'vmidle', '--json', '-n', '100')) as { type: string }[];
      assert.ok(events.some((e) => e.type === 'scale.idle') && events.some((e) => e.type === 'app.wake'), 'idle and wake are recorded');
    });

    await t.test('images:export of a process release says it needs a VM release', async () => {
      const nodeRepo = await exampleRepo('hello-node');
      const r = await createAndPush('proc', nodeRepo);
      assert.equal(r.code, 0, r.stderr);
      const e = await cli(s, 'images:export', '-a', 'proc', '-o', join(root, 'proc.raw'));
      assert.notEqual(e.code, 0);
      assert.match(e.stderr, /images:export needs a VM release \(target qemu with a kernel artifact\); v1 of proc runs target process/);
    });

    await t.test('a push to solo5-spt / solo5-hvt without the tender fails saying what to install', async (tt) => {
      const rts = ((await cliJson(s, 'hosts', '--json')) as HostJson[])[0].runtimes;
      for (const target of ['solo5-spt', 'solo5-hvt']) {
        if (rts.find((x) => x.target === target)?.available) {
          tt.diagnostic(`${target} is installed here: nothing to refuse`);
          continue;
        }
        const app = target.replace('solo5-', 'uk');
        const ukRepo = await exampleRepo('hello-node', (d) => editFile(d, 'summon.toml', (x) => x.replace('target = "process"', `target = "${target}"`)));
        const r = await createAndPush(app, ukRepo);
        assert.notEqual(r.code, 0, 'the push must fail');
        assert.match(r.stderr, new RegExp(`runtime ${target} is not available on this host: ${target} not found`));
        assert.match(r.stderr, /opam install solo5|put solo5-hvt \/ solo5-spt on PATH/);
        assert.deepEqual(await ps(app), [], 'no instance, no fallback to another runtime');
        const rels = (await cliJson(s, 'releases', '-a', app, '--json')) as { status: string; reason: string }[];
        assert.equal(rels[0].status, 'failed');
        assert.match(rels[0].reason, /not found/);
      }
    });
  });
}
