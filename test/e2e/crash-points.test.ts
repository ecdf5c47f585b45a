// Crash consistency, property-style: SIGKILL Summon at a random moment of a push, a rollback
// or a config change, start it again, and check the invariants every time: every release ends
// in a final state, exactly one is live and the router serves it, nothing is left in the build
// directory, and every process running from Summon's data directory is an instance Summon
// knows. The moments come from a seeded generator (SUMMON_CRASH_SEED=N replays a run).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cli, cliJson, commitAll, exampleRepo, push, startSummonProcess, tempDir, viaRouter, type SummonProcess } from './harness.js';
import { waitFor } from '../../src/testing/wait.js';

const ITERATIONS = Number(process.env.SUMMON_CRASH_ITERATIONS ?? 24);
const FINAL = new Set(['live', 'superseded', 'failed']);

/** mulberry32: a small seeded generator, so a failing sequence can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Pids of processes whose working directory is inside `dir`. */
/** The process and its parents, up to init. */
function ancestry(pid: number): number[] {
  const chain: number[] = [];
  for (let p = pid; p > 1 && chain.length < 64; ) {
    chain.push(p);
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      p = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    } catch {
      break;
    }
  }
  return chain;
}

function processesIn(dir: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cwd = readlinkSync(`/proc/${name}/cwd`);
      if ((cwd === dir || cwd.startsWith(dir + '/')) && !readFileSync(`/proc/${name}/stat`, 'utf8').includes(') Z ')) out.push(Number(name));
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

test(`SIGKILL at random points of push, rollback and config:set (${ITERATIONS} times): the invariants hold after every restart`, async (t) => {
  const seed = Number(process.env.SUMMON_CRASH_SEED ?? Date.now() % 100_000);
  t.diagnostic(`seed ${seed} (SUMMON_CRASH_SEED=${seed} replays it)`);
  const random = rng(seed);
  const root = await tempDir('crash-points');
  const data = join(root, 'data');
  let s: SummonProcess = await startSummonProcess(data, ['--no-vm']);
  t.after(async () => {
    await s.stop();
    await rm(root, { recursive: true, force: true });
  });
  assert.equal((await cli(s, 'apps:create', 'phoenix')).code, 0);
  const repo = await exampleRepo('hello-node');
  const first = await push(s, repo, 'phoenix');
  assert.equal(first.code, 0, first.stderr);

  type Rel = { version: number; status: string; reason: string | null };
  const ops = ['push', 'rollback', 'config'] as const;
  for (let i = 0; i < ITERATIONS; i++) {
    const op = ops[i % ops.length];
    const delayMs = Math.floor(random() * 1500);
    let running: Promise<unknown>;
    if (op === 'push') {
      await writeFile(join(repo, 'change.txt'), `change ${i}\n`);
      await commitAll(repo, `change ${i}`);
      running = push(s, repo, 'phoenix');
    } else if (op === 'rollback') {
      running = cli(s, 'rollback', '-a', 'phoenix');
    } else {
      running = cli(s, 'config:set', '-a', 'phoenix', `ITERATION=${i}`);
    }
    // Kill while the operation runs (or just after, when it was quicker than the delay).
    await Promise.race([running, new Promise((r) => setTimeout(r, delayMs))]);
    await s.kill9();
    await running;
    s = await startSummonProcess(data, ['--no-vm']);
    const where = `iteration ${i} (${op}, killed after ${delayMs} ms, seed ${seed})`;

    const releases = await waitFor(async () => {
      const list = (await cliJson(s, 'releases', '-a', 'phoenix', '--json')) as Rel[];
      return list.every((r) => FINAL.has(r.status)) ? list : null;
    }, { timeoutMs: 60_000, what: `every release in a final state after ${where}` });
    const live = releases.filter((r) => r.status === 'live');
    assert.equal(live.length, 1, `exactly one live release after ${where}: ${JSON.stringify(releases)}`);
    const res = await waitFor(async () => {
      const r = await viaRouter(s, 'phoenix');
      return r.status === 200 && r.body.includes(`hello-node v${live[0].version} `) ? r : null;
    }, { timeoutMs: 30_000, what: `v${live[0].version} served after ${where}` });
    assert.equal(res.status, 200);
    assert.deepEqual(await readdir(join(data, 'builds')).catch(() => []), [], `no build left on disk after ${where}`);
    const known = await waitFor(async () => {
      const inst = (await cliJson(s, 'ps', '-a', 'phoenix', '--json')) as { pid: number | null; state: string }[];
      const pids = new Set(inst.map((x) => x.pid).filter((p): p is number => p !== null));
      // A confined instance's pid is its sandbox's; the app runs below it.
      const running = processesIn(data);
      return running.every((p) => ancestry(p).some((a) => pids.has(a))) ? { pids, running } : null;
    }, { timeoutMs: 30_000, what: `every process in the data directory to be a known instance after ${where}` });
    assert.ok(known.running.length >= 1, `the live release has a process after ${where}`);
  }
});
