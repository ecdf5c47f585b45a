// arm64 guests end to end: Summon as a real process, examples/vm-hello-arm64 (Debian's arm64
// cloud kernel and busybox-static:arm64) pushed with real git, booted by qemu-system-aarch64
// -M virt (TCG on these x86 hosts), served through the router, rolled out under load with no
// failed request, scaled to zero and woken by a request; an architecture no host runs, and a
// [run].arch the artifact contradicts, are refused with the reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  assertCutOver, cli, cliJson, commitAll, editFile, exampleRepo, push, startLoad, startSummonProcess, tempDir, viaRouter,
  VM_CACHE_ARM64, vmCacheArm64, type SummonProcess,
} from './harness.js';
import { scaled, waitFor } from '../../src/testing/wait.js';
import { hasQemu } from '../../src/runtimes/qemu/vm-hello-fixture.js';

interface Inst { id: string; state: string; version: number; pid: number | null }
interface HostJson { runtimes: { target: string; available: boolean; arches?: { arch: string; native: boolean }[]; reason: string }[] }

/** An arm64 boot to healthy under TCG: 3-4 s on a quiet 2-core host (waitFor scales it). */
const BOOT_MS = 60_000;

if (!(await hasQemu('qemu-system-aarch64'))) {
  test('arm64 guests end to end', { skip: 'qemu-system-aarch64 is not installed (apt-get install qemu-system-arm)' }, () => {});
} else {
  test('arm64 guests end to end', async (t) => {
    const cache = await vmCacheArm64();
    const root = await tempDir('vm-arm64');
    // A wake-up holds the request while the guest boots: longer than the default 30 s on a busy host.
    const s: SummonProcess = await startSummonProcess(join(root, 'data'), ['--build-ro', VM_CACHE_ARM64, '--hold-timeout', `${Math.round(scaled(120_000) / 1000)}s`]);
    t.after(async () => {
      await s.stop();
      await rm(root, { recursive: true, force: true });
    });
    const ps = async (app: string): Promise<Inst[]> => (await cliJson(s, 'ps', '-a', app, '--json')) as Inst[];
    const healthyOf = (app: string, version: number, n: number) => waitFor(async () => {
      const list = await ps(app);
      return list.filter((i) => i.state === 'healthy' && i.version === version).length === n && list.length === n ? list : undefined;
    }, { timeoutMs: BOOT_MS, what: `${n} healthy instance(s) of ${app} v${version}` });
    const createAndPush = async (app: string, repo: string) => {
      const created = await cli(s, 'apps:create', app);
      assert.equal(created.code, 0, created.stderr);
      assert.equal((await cli(s, 'config:set', '-a', app, `SUMMON_VM_CACHE=${cache}`)).code, 0);
      return push(s, repo, app);
    };

    await t.test('summon hosts lists the architectures each runtime runs: aarch64 emulated on this x86 host', async () => {
      const rts = ((await cliJson(s, 'hosts', '--json')) as HostJson[])[0].runtimes;
      const q = rts.find((x) => x.target === 'qemu')!;
      assert.equal(q.available, true, q.reason);
      const arm = q.arches?.find((a) => a.arch === 'aarch64');
      assert.ok(arm, JSON.stringify(q.arches));
      if (process.arch === 'x64') {
        assert.equal(arm.native, false);
        assert.deepEqual(rts.find((x) => x.target === 'process')!.arches, [{ arch: 'x86_64', native: true }]);
      }
      const table = await cli(s, 'hosts');
      assert.match(table.stdout, /qemu\s.*aarch64 \((native|emulated)\)/);
    });

    const repo = await exampleRepo('vm-hello-arm64');
    await t.test('push vm-hello-arm64: the arch is detected and recorded, qemu-system-aarch64 boots it, 200 through the router', async () => {
      const t0 = Date.now();
      const r = await createAndPush('armweb', repo);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /Architecture: aarch64 \(arm64 Linux Image/);
      assert.match(r.stderr, /Released v1/);
      const res = await viaRouter(s, 'armweb');
      assert.equal(res.status, 200);
      assert.match(res.body, /^hello from vm-hello-arm64 \(aarch64\) release v1 instance armweb-/);
      t.diagnostic(`push to first 200: ${Date.now() - t0} ms`);
      const info = await cliJson(s, 'releases:info', '-a', 'armweb', 'v1', '--json');
      assert.equal(info.buildManifest.artifact.arch, 'aarch64');
      assert.equal(info.manifest.run.arch, 'aarch64');
      const [inst] = await ps('armweb');
      const argv = (await readFile(`/proc/${inst.pid}/cmdline`, 'utf8')).split('\0');
      assert.ok(argv.some((a) => a.endsWith('qemu-system-aarch64')), argv.join(' '));
      assert.ok(argv.includes('virt,usb=off,dump-guest-core=off') && argv.includes('-sandbox'), argv.join(' '));
    });

    await t.test('push v2 under load: zero failed requests, every response after it from v2', async () => {
      await healthyOf('armweb', 1, 1);
      const load = startLoad(s, 'armweb', { rate: 10, max: 100_000, concurrency: 4 });
      await waitFor(() => load.completed() >= 30, { timeoutMs: 20_000, what: 'the load to run' });
      await commitAll(repo, 'v2');
      const started = Date.now();
      const r = await push(s, repo, 'armweb');
      const pushedAt = Date.now();
      const doneAtPush = load.completed();
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /Released v2/);
      t.diagnostic(`push v2 under load: ${pushedAt - started} ms`);
      await waitFor(() => load.completed() >= doneAtPush + 30, { timeoutMs: 30_000, what: 'load after the push' });
      const sum = await load.stop();
      assertCutOver(sum, pushedAt, 10);
      t.diagnostic(`load: ${JSON.stringify(sum.statuses)} errors ${JSON.stringify(sum.errors)}`);
      await healthyOf('armweb', 2, 1);
    });

    await t.test('scaled to zero, a request wakes it: held while the guest boots, then 200', async () => {
      const a = await cli(s, 'autoscale', '-a', 'armweb', '--min', '0', '--max', '1', '--idle-timeout', '2s');
      assert.equal(a.code, 0, a.stderr);
      await waitFor(async () => (await ps('armweb')).length === 0, { timeoutMs: 30_000, what: 'armweb to scale to zero' });
      const t0 = Date.now();
      const res = await viaRouter(s, 'armweb', '/', scaled(120_000));
      assert.equal(res.status, 200);
      assert.match(res.body, /^hello from vm-hello-arm64 \(aarch64\) release v2/);
      t.diagnostic(`wake from zero to 200: ${Date.now() - t0} ms`);
      const events = (await cliJson(s, 'events', '-a', 'armweb', '--json', '-n', '200')) as { type: string }[];
      assert.ok(events.some((e) => e.type === 'scale.idle') && events.some((e) => e.type === 'app.wake'), 'idle and wake are recorded');
    });

    await t.test('images:export of an arm64 release says it makes x86 disks only', async () => {
      const e = await cli(s, 'images:export', '-a', 'armweb', '-o', join(root, 'arm.raw'));
      assert.notEqual(e.code, 0);
      assert.match(e.stderr, /images:export makes an x86 BIOS disk \(syslinux\); v2 of armweb is an aarch64 kernel/);
    });

    await t.test('an architecture no host runs is refused at push, naming [run].arch and summon hosts', async () => {
      // The process runtime runs only the host's own CPU's code; hello-node's artifact (a
      // script) says no architecture, so [run].arch decides.
      const other = process.arch === 'arm64' ? 'x86_64' : 'aarch64';
      const nodeRepo = await exampleRepo('hello-node', (d) => editFile(d, 'summon.toml', (x) => x.replace('target = "process"', `target = "process"\narch = "${other}"`)));
      const r = await createAndPush('wrongarch', nodeRepo);
      assert.notEqual(r.code, 0, 'the push must fail');
      assert.match(r.stderr, new RegExp(`no host runs ${other} for the process runtime \\(\\[run\\]\\.arch asks for it\\): see which architectures each host runs with \`summon hosts\``));
      assert.deepEqual(await ps('wrongarch'), []);
      const rels = (await cliJson(s, 'releases', '-a', 'wrongarch', '--json')) as { status: string; reason: string }[];
      assert.equal(rels[0].status, 'failed');
      assert.match(rels[0].reason, /no host runs/);
    });

    await t.test('a [run].arch the artifact contradicts fails the build, saying both', async () => {
      const bad = await exampleRepo('vm-hello-arm64', (d) => editFile(d, 'summon.toml', (x) => x.replace('arch = "aarch64"', 'arch = "amd64"')));
      const r = await createAndPush('contra', bad);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /\[run\]\.arch is x86_64 but the artifact build\/Image is aarch64 \(arm64 Linux Image/);
      assert.deepEqual(await ps('contra'), []);
    });
  });
}
