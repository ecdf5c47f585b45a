// Runs the compiled test files, one file at a time, each in a process group (and, where this
// user may make one, a pids cgroup) of its own:
//   - every test has a per-test timeout (node --test-timeout), so a stuck await fails its test;
//   - every file has a wall-clock limit; a file past it is killed with everything it started,
//     and reported by name as hung;
//   - whatever a file leaves running after it ends (servers, apps, VMs) is reported and killed;
//   - the summary line prints whatever happened.
// Deadlines scale with the machine: one factor, measured here by timing a fixed workload on
// both cores (or SUMMON_TEST_SLOWDOWN), passed to every test file (src/testing/wait.ts).
//
// The edge's end-to-end files (EDGE_FILES) run twice, once on each data plane (Node router,
// HAProxy), through SUMMON_TEST_DATA_PLANE which the harness turns into `--data-plane`; the
// others run on the Node router. With SUMMON_TEST_DATA_PLANE set, every file runs once on it.
//
// Usage: node scripts/run-tests.mjs [unit|e2e|all] [filter]
//   env: SUMMON_TEST_SLOWDOWN=F (skip the measurement), SUMMON_TEST_FILE_LIMIT=SECONDS,
//        SUMMON_TEST_DATA_PLANE=node|haproxy
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { spawn } from 'node:child_process';
import { measureRound, measureSlowdown, slowdownOf } from './slowdown.mjs';

const [kind = 'all', filter = ''] = process.argv.slice(2);
if (!['unit', 'e2e', 'all'].includes(kind)) {
  console.error(`usage: node scripts/run-tests.mjs [unit|e2e|all] [filter]  (got ${JSON.stringify(kind)})`);
  process.exit(2);
}
function walk(dir, out = []) {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}
const unit = walk('dist/src').sort();
const e2e = walk('dist/test').sort();
let files = kind === 'unit' ? unit : kind === 'e2e' ? e2e : [...unit, ...e2e];
if (filter) files = files.filter((f) => f.includes(filter));
if (files.length === 0) {
  console.error(`no test files matched (${kind} ${filter}): run \`npm run build\` first, or check the filter`);
  process.exit(1);
}
/** What users rely on at the edge, proven on both data planes. */
const EDGE_FILES = ['zero-downtime', 'summoning', 'restart', 'domains'];
const fixedPlane = process.env.SUMMON_TEST_DATA_PLANE;
if (fixedPlane !== undefined && fixedPlane !== 'node' && fixedPlane !== 'haproxy') {
  console.error(`SUMMON_TEST_DATA_PLANE must be node or haproxy, got ${JSON.stringify(fixedPlane)}`);
  process.exit(2);
}
const runs = files.flatMap((file) => {
  if (fixedPlane) return [{ file, plane: fixedPlane }];
  const edge = file.startsWith('dist/test/') && EDGE_FILES.some((n) => file.endsWith(`/${n}.test.js`));
  return edge ? [{ file, plane: 'node' }, { file, plane: 'haproxy' }] : [{ file, plane: undefined }];
});

const fixed = Boolean(process.env.SUMMON_TEST_SLOWDOWN);
const slowdown = fixed ? Number(process.env.SUMMON_TEST_SLOWDOWN) : await measureSlowdown();
if (!Number.isFinite(slowdown) || slowdown < 1 || slowdown > 100) {
  console.error(`SUMMON_TEST_SLOWDOWN must be a number from 1 to 100, got ${JSON.stringify(process.env.SUMMON_TEST_SLOWDOWN)}`);
  process.exit(2);
}
// The longest single test (a VM e2e file's top-level test) takes about 2 minutes here.
const limitsFor = (factor) => ({
  testTimeoutMs: Math.round(240_000 * factor),
  fileLimitMs: Math.round((Number(process.env.SUMMON_TEST_FILE_LIMIT) || 480) * 1000 * factor),
});
const { testTimeoutMs, fileLimitMs } = limitsFor(slowdown);
console.log(`# ${files.length} test files (${runs.length} runs); slowdown ${slowdown} (${process.env.SUMMON_TEST_SLOWDOWN ? 'SUMMON_TEST_SLOWDOWN' : 'measured'}); ` +
  `per test ${testTimeoutMs / 1000} s, per file ${fileLimitMs / 1000} s`);

const cgroupRoot = '/sys/fs/cgroup/pids';
const canCgroup = (() => {
  try {
    const probe = join(cgroupRoot, `summon-tests-probe-${process.pid}`);
    mkdirSync(probe);
    rmdirSync(probe);
    return true;
  } catch {
    return false;
  }
})();

/** Every process in the tree under `root` (by parent pid), root included. */
function descendants(root) {
  const parent = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const out = new Set([root]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, ppid] of parent) if (out.has(ppid) && !out.has(pid)) { out.add(pid); grew = true; }
  }
  return [...out].filter((p) => parent.has(p));
}

/** Every process in a cgroup and in the cgroups below it (Summon nests its builds' and instances' there). */
function cgroupPids(dir) {
  const pids = [];
  try {
    pids.push(...readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number));
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) pids.push(...cgroupPids(join(dir, e.name)));
  } catch {
    // gone
  }
  return pids;
}

/** The cgroup's directories, deepest first, for removal. */
function cgroupDirs(dir) {
  const out = [];
  try {
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) out.push(...cgroupDirs(join(dir, e.name)));
  } catch {
    // gone
  }
  out.push(dir);
  return out;
}

function describe(pid) {
  try {
    return `${pid} ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim().slice(0, 160)}`;
  } catch {
    return String(pid);
  }
}

function killAll(pids) {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Kills what is still running in a file's cgroup until it is empty (it may fork meanwhile). */
async function emptyCgroup(dir) {
  for (let i = 0; i < 50; i++) {
    const pids = cgroupPids(dir);
    if (pids.length === 0) break;
    killAll(pids);
    await new Promise((r) => setTimeout(r, 20));
  }
  for (const d of cgroupDirs(dir)) {
    try {
      rmdirSync(d);
    } catch {
      // a process that would not die: left for the operator, named in the report
    }
  }
}

function parseTap(text) {
  const count = (name) => Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  const failed = [...text.matchAll(/^(\s*)not ok \d+ - (.*)$/gm)].map((m) => `${m[1]}${m[2]}`);
  return { tests: count('tests'), pass: count('pass'), fail: count('fail'), cancelled: count('cancelled'), skipped: count('skipped'), todo: count('todo'), failed };
}

/** The factor for one file: the machine can get busier during a run (other jobs on a shared
 *  host), so before each end-to-end file one more round of the workload is timed, and the
 *  larger of that and the start's figure is used. Unit files keep the start's figure. */
async function factorFor(file) {
  if (fixed || !file.startsWith('dist/test/')) return slowdown;
  return Math.max(slowdown, slowdownOf(await measureRound()));
}

async function runFile({ file, plane }, index) {
  const factor = await factorFor(file);
  const { testTimeoutMs, fileLimitMs } = limitsFor(factor);
  if (factor !== slowdown) console.log(`# ${file}: slowdown ${factor} (measured again: the machine is busier than at the start)`);
  const tapFile = join(tmpdir(), `summon-test-${process.pid}-${index}.tap`);
  const args = [`--test-timeout=${testTimeoutMs}`, '--test-reporter=spec', '--test-reporter-destination=stdout',
    '--test-reporter=tap', `--test-reporter-destination=${tapFile}`, '--test', file];
  const started = Date.now();
  const child = spawn(process.execPath, args, {
    stdio: 'inherit', detached: true, env: { ...process.env, SUMMON_TEST_SLOWDOWN: String(factor), ...(plane ? { SUMMON_TEST_DATA_PLANE: plane } : {}) },
  });
  const cg = canCgroup ? join(cgroupRoot, `summon-test-${process.pid}-${index}`) : null;
  if (cg) {
    try {
      mkdirSync(cg);
      writeFileSync(join(cg, 'cgroup.procs'), String(child.pid));
    } catch {
      // the process tree is walked instead
    }
  }
  let hung = false;
  const limit = setTimeout(() => {
    hung = true;
    console.error(`\n# HUNG: ${file} ran past its ${fileLimitMs / 1000} s limit; killing it and everything it started`);
    killAll(cg ? cgroupPids(cg) : descendants(child.pid));
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }, fileLimitMs);
  const code = await new Promise((r) => child.once('exit', (c, sig) => r(c ?? sig)));
  clearTimeout(limit);
  // What the file left behind: its process group, its cgroup, and (without a cgroup) its tree.
  const left = cg ? cgroupPids(cg) : descendants(child.pid).filter((p) => p !== child.pid);
  if (left.length > 0 && !hung) {
    console.error(`\n# LEAKED: ${file} left ${left.length} process(es) running after it ended; killing them:`);
    for (const pid of left) console.error(`#   ${describe(pid)}`);
  }
  killAll(left);
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // the group is empty
  }
  if (cg) await emptyCgroup(cg);
  const tap = existsSync(tapFile) ? parseTap(readFileSync(tapFile, 'utf8')) : parseTap('');
  rmSync(tapFile, { force: true });
  return { file: plane && !fixedPlane ? `${file} [${plane}]` : file, code, hung, leaked: hung ? 0 : left.length, seconds: (Date.now() - started) / 1000, ...tap };
}

let interrupted = false;
const stop = () => {
  interrupted = true;
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

const results = [];
const t0 = Date.now();
for (const [i, r] of runs.entries()) {
  if (interrupted) break;
  if (r.plane && !fixedPlane) console.log(`# ${r.file} on the ${r.plane} data plane`);
  results.push(await runFile(r, i));
}
const sum = (k) => results.reduce((n, r) => n + r[k], 0);
const bad = results.filter((r) => r.code !== 0 || r.hung || r.leaked > 0);
console.log(`\n# ${'file'.padEnd(48)} ${'tests'.padStart(5)} ${'fail'.padStart(4)} ${'s'.padStart(6)}`);
for (const r of results) {
  const mark = r.hung ? 'HUNG' : r.code !== 0 ? 'FAIL' : r.leaked > 0 ? 'LEAK' : 'ok';
  console.log(`# ${r.file.replace(/^dist\//, '').padEnd(48)} ${String(r.tests).padStart(5)} ${String(r.fail).padStart(4)} ${r.seconds.toFixed(1).padStart(6)}  ${mark}`);
}
for (const r of bad) {
  for (const f of r.failed) console.log(`# failed in ${r.file}: ${f.trim()}`);
}
console.log(`# summary: ${results.length}/${runs.length} files, ${sum('tests')} tests, ${sum('pass')} passed, ${sum('fail')} failed, ` +
  `${sum('cancelled')} cancelled, ${sum('skipped')} skipped; ${results.filter((r) => r.hung).length} files hung, ` +
  `${results.filter((r) => r.leaked > 0).length} leaked processes; ${((Date.now() - t0) / 1000).toFixed(0)} s (slowdown ${slowdown})`);
process.exit(bad.length === 0 && !interrupted && results.length === runs.length ? 0 : 1);
