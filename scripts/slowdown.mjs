// How much slower this machine is, right now, than the one the tests' deadlines were written
// on: a fixed workload (hashing, a loop, JSON) in two processes at once, so both a slower core
// and a core taken by something else show. The best of three rounds, divided by the same
// workload's time on the reference machine (2-core AMD EPYC, quiet), never below 1.
import { spawn } from 'node:child_process';

/** Milliseconds the slower of the two workers took on the reference machine, quiet. */
export const REFERENCE_MS = 350;

const WORK = `const c = require('crypto'); const b = Buffer.alloc(1 << 20, 7); const t = process.hrtime.bigint();
for (let i = 0; i < 200; i++) c.createHash('sha256').update(b).digest();
let s = 0; for (let i = 0; i < 3e7; i++) s += i % 7;
const o = []; for (let i = 0; i < 2e5; i++) o.push({ i, s: String(i) }); JSON.parse(JSON.stringify(o));
process.stdout.write(String(Number(process.hrtime.bigint() - t) / 1e6));`;

function worker() {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['-e', WORK], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (c) => (out += c));
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve(Number(out)) : reject(new Error(`the calibration workload exited ${code}`))));
  });
}

export async function measureRound() {
  const times = await Promise.all([worker(), worker()]);
  return Math.max(...times);
}

/** A round's time as a factor: one decimal, never below 1. */
export function slowdownOf(ms) {
  return Math.max(1, Math.round((ms / REFERENCE_MS) * 10) / 10);
}

export async function measureSlowdown(rounds = 3) {
  let best = Infinity;
  for (let i = 0; i < rounds; i++) best = Math.min(best, await measureRound());
  return slowdownOf(best);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rounds = [];
  for (let i = 0; i < 3; i++) rounds.push(await measureRound());
  console.log(`workload rounds: ${rounds.map((r) => r.toFixed(0)).join(', ')} ms; reference ${REFERENCE_MS} ms; slowdown ${slowdownOf(Math.min(...rounds))}`);
}
