// VM confinement end to end, through a real Summon and one booted vm-hello guest (TCG here,
// so a single VM serves every check): config var names and values that could add a kernel
// parameter are refused at config:set; the running QEMU has the seccomp sandbox and no
// config value in its argv while the guest still reads them (fw_cfg); and a guest on QEMU's
// user-mode network cannot reach a TCP server on the host's loopback. QEMU runs as the
// app's own user (DATA/uids.json) with no capabilities, in the instance's cgroup unit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { cli, cliJson, editFile, exampleRepo, git, push, startSummonProcess, tempDir, viaRouter, vmCache } from './harness.js';
import { waitFor } from '../../src/testing/wait.js';
import { hasQemu } from '../../src/runtimes/qemu/vm-hello-fixture.js';

interface Inst { id: string; state: string; version: number; pid: number | null }

if (!(await hasQemu())) {
  test('VM confinement end to end', { skip: 'qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)' }, () => {});
} else {
  test('VM confinement end to end', async (t) => {
    const root = await tempDir('secvm');
    const s = await startSummonProcess(join(root, 'data'));
    // A loopback service of the host's, as Summon's API and every process app are: it counts
    // whoever connects.
    const accepted: string[] = [];
    const sockets = new Set<Socket>();
    const server = createServer((c) => {
      accepted.push(`${c.remoteAddress}:${c.remotePort}`);
      sockets.add(c);
      c.on('close', () => sockets.delete(c));
      c.end('hello from the host loopback\n');
    });
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    const loopbackPort = (server.address() as { port: number }).port;
    t.after(async () => {
      for (const c of sockets) c.destroy();
      await new Promise((res) => server.close(res));
      await s.stop();
      await rm(root, { recursive: true, force: true });
    });

    const app = 'vmsec';
    const secret = `s3cr3t-${randomBytes(12).toString('hex')}`;
    const greeting = `greet-${randomBytes(6).toString('hex')}`;
    assert.equal((await cli(s, 'apps:create', app)).code, 0);
    const cache = await vmCache();

    await t.test('config:set refuses a name that is a kernel parameter, and a value that would add one', async () => {
      const name = await cli(s, 'config:set', '-a', app, 'rdinit=/bin/sh');
      assert.equal(name.code, 2, name.stderr);
      assert.match(name.stderr, /config var "rdinit" is not allowed: config var names are environment-variable names.*\^\[A-Z_\]\[A-Z0-9_\]\*\$/);
      const value = await cli(s, 'config:set', '-a', app, 'GREETING=hi init=/bin/sh');
      assert.equal(value.code, 2, value.stderr);
      assert.match(value.stderr, /config var GREETING holds a space: on VM targets a value is one word .*no release yet, so the VM rules/);
      const quote = await cli(s, 'config:set', '-a', app, 'GREETING=a"b');
      assert.notEqual(quote.code, 0);
      assert.match(quote.stderr, /holds a quote/);
      // Nothing of the refused sets was stored.
      assert.deepEqual(await cliJson(s, 'config', '-a', app, '--json'), {});
    });

    const repo = await exampleRepo('vm-hello', (d) => editFile(d, 'summon.toml', (x) => x.replace('[run]\n', '[run]\nnetwork = "user"\n')));
    let pid = 0;
    await t.test('a VM app with secrets: released, the guest reads them, QEMU\'s argv holds none of them', async () => {
      const set = await cli(s, 'config:set', '-a', app, `SUMMON_VM_CACHE=${cache}`, `API_SECRET=${secret}`, `GREETING=${greeting}`,
        `VM_HELLO_PROBE=10.0.2.2:${loopbackPort}`);
      assert.equal(set.code, 0, set.stderr);
      const r = await push(s, repo, app);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /Released v1/);
      const res = await viaRouter(s, app);
      assert.equal(res.status, 200);
      assert.match(res.body, new RegExp(`hello from vm-hello release v1 instance ${app}-\\S+ ${greeting}`), 'GREETING reached the guest');
      const [inst] = (await cliJson(s, 'ps', '-a', app, '--json')) as Inst[];
      assert.ok(inst?.pid, JSON.stringify(inst));
      pid = inst.pid;
      const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
      assert.match(argv[0], /qemu-system-x86_64/);
      const all = argv.join(' ');
      for (const v of [secret, greeting, `10.0.2.2:${loopbackPort}`]) assert.ok(!all.includes(v), `${v} is not in QEMU's argv: ${all}`);
      const at = argv.indexOf('-sandbox');
      assert.equal(argv[at + 1], 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny');
      assert.ok(argv.includes('name=opt/summon/env,file=summon-env'), all);
      assert.match(argv[argv.indexOf('-netdev') + 1], /^user,id=n0,restrict=on,hostfwd=tcp:127\.0\.0\.1:\d+-:8080$/);
      // The guest's address and port stay on the kernel command line.
      assert.match(argv[argv.indexOf('-append') + 1], /\bPORT=8080\b.*\bSUMMON_ADDR=10\.0\.2\.15\/24\b/);
    });

    await t.test('the guest\'s QEMU runs as the app\'s own user, with no capabilities, in the instance\'s cgroup unit', async () => {
      assert.ok(pid, 'the previous step found the QEMU pid');
      const uids = JSON.parse(await readFile(join(root, 'data', 'uids.json'), 'utf8')) as { apps: Record<string, number> };
      const uid = uids.apps[app];
      assert.ok(Number.isInteger(uid) && uid >= 1000, `DATA/uids.json names ${app}'s user: ${JSON.stringify(uids)}`);
      const status = await readFile(`/proc/${pid}/status`, 'utf8');
      const field = (k: string) => new RegExp(`^${k}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim().split(/\s+/);
      assert.deepEqual(field('Uid'), [uid, uid, uid, uid].map(String), status);
      assert.deepEqual(field('Gid'), [uid, uid, uid, uid].map(String), status);
      for (const k of ['CapEff', 'CapPrm', 'CapBnd']) assert.deepEqual(field(k), ['0000000000000000'], `${k}: ${status}`);
      assert.deepEqual(field('NoNewPrivs'), ['1']);
      // Its memory and pids cgroups are the instance's unit (summon-<key>/<instance id>).
      const [inst] = (await cliJson(s, 'ps', '-a', app, '--json')) as Inst[];
      const cgroups = (await readFile(`/proc/${pid}/cgroup`, 'utf8')).split('\n');
      for (const c of ['memory', 'pids']) {
        assert.ok(cgroups.some((l) => new RegExp(`^\\d+:(?:[^:]*,)?${c}(?:,[^:]*)?:.*/summon-[0-9a-f]{12}/${inst!.id}$`).test(l) ||
          new RegExp(`^0::.*/summon-[0-9a-f]{12}/${inst!.id}$`).test(l)), `${c}: ${cgroups.join(' | ')}`);
      }
    });

    await t.test('the user-net guest cannot reach a TCP server on the host\'s loopback (10.0.2.2)', async () => {
      const line = await waitFor(async () => {
        const logs = (await cli(s, 'logs', '-a', app, '-n', '500')).stdout;
        return logs.split('\n').find((l) => l.includes(`vm-hello: probe 10.0.2.2:${loopbackPort}:`));
      }, { timeoutMs: 30_000, what: 'the guest to report its connection attempt' });
      t.diagnostic(line);
      assert.match(line, /: failed \(/, line);
      assert.deepEqual(accepted, [], 'the host loopback server saw no connection');
    });

    await t.test('on the live qemu release, a bad value is refused naming the target, and v1 keeps serving', async () => {
      const bad = await cli(s, 'config:set', '-a', app, `GREETING=${greeting} init=/bin/sh`);
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /config var GREETING holds a space: .*\(target qemu\)/);
      const tab = await cli(s, 'config:set', '-a', app, 'GREETING=a\tb');
      assert.notEqual(tab.code, 0);
      assert.match(tab.stderr, /control character \(U\+0009\)/);
      const rels = (await cliJson(s, 'releases', '-a', app, '--json')) as { version: number }[];
      assert.deepEqual(rels.map((r) => r.version), [1], 'no release was made');
      const [inst] = (await cliJson(s, 'ps', '-a', app, '--json')) as Inst[];
      assert.equal(inst.pid, pid, 'the same QEMU still runs');
      assert.equal((await viaRouter(s, app)).status, 200);
    });

    await t.test('a process app whose config suits only processes: a push that makes it a VM is refused, naming the var', async () => {
      const proc = 'procsec';
      assert.equal((await cli(s, 'apps:create', proc)).code, 0);
      assert.equal((await cli(s, 'config:set', '-a', proc, `SUMMON_VM_CACHE=${cache}`)).code, 0);
      const r1 = await push(s, await exampleRepo('hello-node'), proc);
      assert.equal(r1.code, 0, r1.stderr);
      // Spaces are fine for a process target.
      const set = await cli(s, 'config:set', '-a', proc, 'GREETING=hi there');
      assert.equal(set.code, 0, set.stderr);
      // vm-hello's history is not hello-node's: pushed with --force, as a change of stack would be.
      const url = new URL(`${s.apiUrl}/git/${proc}.git`);
      url.username = 'summon';
      url.password = s.token;
      const r2 = await git(repo, 'push', '--force', url.toString(), 'main');
      assert.notEqual(r2.code, 0, 'the push must fail');
      assert.match(r2.stderr, /the config vars do not suit target qemu: config var GREETING holds a space.*config:set \/ config:unset and push again/);
      const rels = (await cliJson(s, 'releases', '-a', proc, '--json')) as { version: number; status: string }[];
      assert.equal(rels.find((x) => x.version === 3)?.status, 'failed', JSON.stringify(rels));
      assert.equal((await viaRouter(s, proc)).status, 200, 'the process release keeps serving');
    });
  });
}
