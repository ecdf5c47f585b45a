// Finds the flakes before users do: the whole suite (or a part) several times in a row while a
// CPU burner takes one of the cores. The burner is a child process of this script, bounded in
// time by itself and killed when the runs end, on every path.
//
// Usage: node scripts/stress-tests.mjs [runs=3] [unit|e2e|all] [filter]
import { spawn } from 'node:child_process';

const runs = Number(process.argv[2] ?? 3);
const rest = process.argv.slice(3);
if (!Number.isInteger(runs) || runs < 1 || runs > 20) {
  console.error(`usage: node scripts/stress-tests.mjs [runs 1-20] [unit|e2e|all] [filter]  (got runs ${JSON.stringify(process.argv[2])})`);
  process.exit(2);
}
// Longer than any run should take (25 minutes each), so the burner outlives none of them by much
// even if this script were killed with SIGKILL.
const burnMs = runs * 40 * 60 * 1000;
const burner = spawn(process.execPath, ['-e', `const end = Date.now() + ${burnMs}; let x = 0; while (Date.now() < end) { for (let i = 0; i < 1e6; i++) x += i; }`], { stdio: 'ignore' });
const stopBurner = () => {
  if (burner.exitCode === null && burner.signalCode === null) burner.kill('SIGKILL');
};
process.on('exit', stopBurner);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { stopBurner(); process.exit(130); });
console.log(`# stress: ${runs} runs of the suite (${rest.join(' ') || 'all'}) with a CPU burner (pid ${burner.pid}) on one core`);

const outcomes = [];
for (let i = 1; i <= runs; i++) {
  const t0 = Date.now();
  let tail = '';
  const code = await new Promise((resolve) => {
    const p = spawn(process.execPath, ['scripts/run-tests.mjs', ...rest], { stdio: ['ignore', 'pipe', 'inherit'] });
    p.stdout.on('data', (c) => {
      process.stdout.write(c);
      tail = (tail + c).slice(-8192);
    });
    p.on('exit', (c) => resolve(c ?? 1));
  });
  const summary = /# summary: .*/.exec(tail)?.[0] ?? '(no summary line)';
  const failures = [...tail.matchAll(/^# (?:failed in|HUNG|LEAKED).*$/gm)].map((m) => m[0]);
  outcomes.push({ run: i, ok: code === 0, seconds: Math.round((Date.now() - t0) / 1000), summary, failures });
}
stopBurner();
console.log('\n# stress results (one core taken by a CPU burner):');
for (const o of outcomes) {
  console.log(`#   run ${o.run}: ${o.ok ? 'passed' : 'FAILED'} in ${o.seconds} s — ${o.summary.replace(/^# summary: /, '')}`);
  for (const f of o.failures) console.log(`#     ${f.replace(/^# /, '')}`);
}
const failed = outcomes.filter((o) => !o.ok).length;
console.log(`# stress: ${runs} runs, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
