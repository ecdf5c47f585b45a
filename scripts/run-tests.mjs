// Lists the compiled test files explicitly (Node 20's test runner does not glob) and runs them.
// Usage: node scripts/run-tests.mjs [unit|e2e] [filter]
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const [kind = 'all', filter = ''] = process.argv.slice(2);
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
  console.error(`no test files matched (${kind} ${filter})`);
  process.exit(1);
}
// e2e tests start servers and VMs; run files one at a time so they do not fight over 2 cores.
const args = ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files];
const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
process.exit(r.status ?? 1);
