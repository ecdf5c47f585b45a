#!/usr/bin/env node
// Runs the benchmarks one at a time: every dist/bench/*.js (not dist/bench/lib), or the ones
// named on the command line (`npm run bench -- router cold-start`). A failing benchmark does
// not stop the others; the exit code is non-zero if any failed. Build first (npm run bench does).
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, 'dist', 'bench');
if (!existsSync(dir)) {
  console.error(`no ${dir}: build first (npx tsc -p tsconfig.json)`);
  process.exit(2);
}
const all = readdirSync(dir).filter((f) => f.endsWith('.js')).map((f) => f.slice(0, -3)).sort();
const asked = process.argv.slice(2).map((a) => a.replace(/^bench\//, '').replace(/\.(ts|js)$/, ''));
const unknown = asked.filter((a) => !all.includes(a));
if (unknown.length) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; known: ${all.join(', ')}`);
  process.exit(2);
}
const names = asked.length ? asked : all;

function run(name) {
  return new Promise((resolve) => {
    const started = Date.now();
    // --expose-gc: benchmarks that report memory collect garbage before they measure.
    const child = spawn(process.execPath, ['--expose-gc', join(dir, `${name}.js`)], { cwd: root, stdio: 'inherit' });
    const forward = (sig) => child.kill(sig);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    child.once('exit', (code, signal) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolve({ name, ok: code === 0, code: code ?? signal, seconds: (Date.now() - started) / 1000 });
    });
  });
}

const results = [];
for (const name of names) {
  console.log(`\n=== bench/${name} ===`);
  results.push(await run(name));
}
console.log('\n=== summary ===');
for (const r of results) console.log(`${r.ok ? 'ok  ' : 'FAIL'}  ${r.name.padEnd(16)} ${r.seconds.toFixed(1).padStart(6)} s${r.ok ? '' : `  (exit ${r.code})`}`);
const failed = results.filter((r) => !r.ok);
if (failed.length) {
  console.log(`${failed.length} of ${results.length} benchmark(s) failed`);
  process.exit(1);
}
