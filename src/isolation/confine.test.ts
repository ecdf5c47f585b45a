// Real confinement on this host (root, bubblewrap, cgroups): each test runs a command as an
// attacker's build step would and checks it was refused or contained.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, mkdir, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Confiner, confinedExit, spawnConfined, terminateConfined, type ConfineRequest } from './confine.js';
import { scaled, waitFor } from '../testing/wait.js';
import { CLONE_NEW_MASK, evaluate, filterProgram, SECCOMP, SYSCALLS } from './seccomp.js';

interface Ran { code: number | null; signal: NodeJS.Signals | null; out: string; err: string; oom: boolean; leftover: number }

async function setup(t: { after(fn: () => Promise<void>): void }) {
  const data = await mkdtemp(join(tmpdir(), 'summon-confine-'));
  await chmod(data, 0o700);
  t.after(() => rm(data, { recursive: true, force: true }));
  const c = await Confiner.create(data);
  if ('unavailable' in c) throw new Error(`confinement unavailable on this host: ${c.unavailable}`);
  await c.reap();
  return { data, c };
}

async function run(c: Confiner, data: string, script: string, more: Partial<ConfineRequest> = {}, timeoutMs = scaled(20_000)): Promise<Ran> {
  const work = join(data, 'work', more.unit ?? 'u1');
  await mkdir(work, { recursive: true });
  const req: ConfineRequest = { unit: 'u1', app: 'demo', command: ['/bin/sh', '-c', script], cwd: work, rw: [work], ro: [], network: 'none', limits: { memoryBytes: 64 * 1024 * 1024, pids: 64 }, ...more };
  const p = await c.prepare(req);
  await c.own(work, p.uid);
  const child = spawnConfined(p, { PATH: '/usr/bin:/bin', HOME: work });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const timer = setTimeout(() => void p.unit.killAll(), timeoutMs);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((r) => child.once('exit', (a, b) => r([a, b])));
  clearTimeout(timer);
  // What the command left running (holding its pipes open, for one) goes with its unit.
  const leftover = (await p.unit.pids()).length;
  await p.unit.killAll();
  await new Promise((r) => (child.stdout!.readableEnded ? r(null) : child.once('close', r)));
  const oom = await p.unit.oomKilled();
  await p.unit.remove();
  const e = confinedExit(code, signal);
  return { code: e.code, signal: e.signal, out, err, oom, leftover };
}

test('the seccomp program refuses namespace, mount and module calls and allows the rest', () => {
  for (const arch of ['x64', 'arm64'] as const) {
    const prog = filterProgram(arch);
    const a = SECCOMP.AUDIT_ARCH[arch];
    const nr = SYSCALLS[arch];
    assert.equal(evaluate(prog, { arch: a, nr: nr.mount! }), SECCOMP.EPERM, `${arch} mount`);
    assert.equal(evaluate(prog, { arch: a, nr: nr.unshare! }), SECCOMP.EPERM, `${arch} unshare`);
    assert.equal(evaluate(prog, { arch: a, nr: nr.ptrace! }), SECCOMP.EPERM, `${arch} ptrace`);
    assert.equal(evaluate(prog, { arch: a, nr: nr.init_module! }), SECCOMP.EPERM, `${arch} init_module`);
    assert.equal(evaluate(prog, { arch: a, nr: nr.clone3! }), SECCOMP.ENOSYS, `${arch} clone3`);
    assert.equal(evaluate(prog, { arch: a, nr: nr.clone!, args: [0x01200011] }), SECCOMP.RET_ALLOW, `${arch} fork-like clone`);
    assert.equal(evaluate(prog, { arch: a, nr: nr.clone!, args: [0x10000000 | 17] }), SECCOMP.EPERM, `${arch} clone(CLONE_NEWUSER)`);
    assert.equal(evaluate(prog, { arch: a, nr: nr.clone!, args: [CLONE_NEW_MASK] }), SECCOMP.EPERM, `${arch} clone(all CLONE_NEW*)`);
    assert.equal(evaluate(prog, { arch: a, nr: 0 }), SECCOMP.RET_ALLOW, `${arch} call 0`);
    assert.equal(evaluate(prog, { arch: 0x40000003, nr: 0 }), SECCOMP.RET_KILL_PROCESS, `${arch} foreign architecture`);
  }
  assert.equal(evaluate(filterProgram('x64'), { arch: SECCOMP.AUDIT_ARCH.x64, nr: 0x40000000 | 1 }), SECCOMP.RET_KILL_PROCESS, 'x32 call');
});

test('a confined command runs as the app\'s user with no capabilities, no-new-privs and seccomp', { timeout: scaled(60_000) }, async (t) => {
  const { c, data } = await setup(t);
  const r = await run(c, data, 'id -u; id -G; grep -E "^(CapEff|CapPrm|CapBnd|CapAmb|NoNewPrivs|Seccomp):" /proc/self/status');
  assert.equal(r.code, 0, r.err);
  const uid = await c.uids.uidFor('demo');
  assert.ok(uid >= 520_000, `uid ${uid}`);
  const [u, groups, ...status] = r.out.trim().split('\n');
  assert.equal(Number(u), uid);
  assert.equal(groups, String(uid), 'no supplementary groups');
  const f = Object.fromEntries(status.map((l) => l.split(/:\s+/)));
  assert.deepEqual(f, { CapPrm: '0000000000000000', CapEff: '0000000000000000', CapBnd: '0000000000000000', CapAmb: '0000000000000000', NoNewPrivs: '1', Seccomp: '2' });
  assert.equal(await c.uids.uidFor('demo'), uid, 'the uid is recorded and reused');
  assert.notEqual(await c.uids.uidFor('other'), uid, 'another app has another uid');
});

test('a confined command sees neither Summon\'s files nor the host\'s processes, and cannot mount or unshare', { timeout: scaled(60_000) }, async (t) => {
  const { c, data } = await setup(t);
  await writeFile(join(data, 'admin.token'), 'sk_secret\n', { mode: 0o600 });
  const r = await run(c, data, [
    `cat ${join(data, 'admin.token')} 2>/dev/null && echo LEAK-token`,
    'ls /proc | grep -cE "^[0-9]+$"',
    'touch /etc/planted 2>/dev/null && echo LEAK-etc',
    'touch /usr/planted 2>/dev/null && echo LEAK-usr',
    'echo ok > ./mine && cat ./mine',
    'echo tmp > /tmp/x && cat /tmp/x',
    'unshare -U true 2>/dev/null && echo LEAK-unshare',
    'mount -t tmpfs none /tmp 2>/dev/null && echo LEAK-mount',
    'ls /root 2>/dev/null && echo LEAK-root',
  ].join('; '));
  assert.doesNotMatch(r.out, /LEAK/, r.out + r.err);
  const [procs, mine, tmp] = r.out.trim().split('\n');
  assert.ok(Number(procs) <= 4, `sees ${procs} processes: only its own pid namespace`);
  assert.equal(mine, 'ok');
  assert.equal(tmp, 'tmp');
});

test('pids and memory limits hold, and what a command leaves running is killed with its unit', { timeout: scaled(90_000) }, async (t) => {
  const { c, data } = await setup(t);
  // 400 sleeping children against a limit of 64 tasks: fork fails well before that.
  const forks = await run(c, data, 'n=0; while [ $n -lt 400 ]; do sleep 30 & n=$((n+1)); done 2>/dev/null; echo started', { limits: { pids: 64 } }, scaled(30_000));
  assert.ok(forks.leftover <= 64, `${forks.leftover} tasks left at most the limit`);
  // Allocating 512M against a 64M limit: the kernel's OOM killer ends it, and says so.
  const mem = await run(c, data, 'node -e "const a=[]; for(;;) a.push(Buffer.alloc(8<<20, 1))"', { limits: { memoryBytes: 64 * 1024 * 1024, pids: 64 } }, scaled(60_000));
  assert.equal(mem.signal, 'SIGKILL', `exit ${mem.code} ${mem.err}`);
  assert.equal(mem.oom, true, 'reported as OOM-killed');
  // A daemon that detaches from the session outlives its parent, not its unit.
  const p = await c.prepare({ unit: 'daemon', app: 'demo', command: ['/bin/sh', '-c', 'setsid sleep 300 </dev/null >/dev/null 2>&1 & echo forked'], cwd: '/tmp', rw: [], ro: [], network: 'none', limits: {} });
  const child = spawnConfined(p, { PATH: '/usr/bin:/bin' });
  await new Promise((r) => child.once('exit', r));
  assert.ok((await p.unit.pids()).length >= 1, 'the daemon is still in the unit after its parent exited');
  await p.unit.remove();
  assert.equal((await p.unit.pids()).length, 0);
});

test('a stop reaches the command (SIGTERM, not the sandbox), and reap() removes what a crashed run left', { timeout: scaled(60_000) }, async (t) => {
  const { c, data } = await setup(t);
  const p = await c.prepare({ unit: 'graceful', app: 'demo', command: ['/bin/sh', '-c', 'trap "echo got-term; exit 7" TERM; echo up; while :; do sleep 0.1; done'], cwd: '/tmp', rw: [], ro: [], network: 'none', limits: {} });
  const child = spawnConfined(p, { PATH: '/usr/bin:/bin' });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  await waitFor(() => out.includes('up'), { timeoutMs: 10_000, what: 'the command to start' });
  const closed = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
  await terminateConfined(p.unit, child.pid);
  assert.equal(await closed, 7, 'the command\'s own TERM handler ran and its exit code came through');
  assert.match(out, /got-term/);
  await p.unit.remove();
  // A unit with a process in it, as a Summon killed with SIGKILL would leave it.
  const q = await c.prepare({ unit: 'orphan', app: 'demo', command: ['/bin/sleep', '300'], cwd: '/tmp', rw: [], ro: [], network: 'none', limits: {} });
  const orphan = spawnConfined(q, { PATH: '/usr/bin:/bin' });
  await waitFor(async () => (await q.unit.pids()).length >= 2, { timeoutMs: 10_000, what: 'the orphan to start' });
  const reaped = await c.reap();
  assert.deepEqual(reaped.map((r) => r.unit), ['orphan']);
  assert.ok(reaped[0]!.processes >= 2, 'the outer bwrap and what it runs');
  await new Promise((r) => (orphan.exitCode !== null || orphan.signalCode !== null ? r(null) : orphan.once('close', r)));
  assert.equal((await q.unit.pids()).length, 0);
});
