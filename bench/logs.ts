// Log throughput: lines per second from an instance's console to a `summon logs --tail` style
// client (the SDK's tailLogs, in its own process), against the same lines written by the same
// program straight to a file. Also the log store's memory for what it holds.
//
//   npx tsc -p tsconfig.json && node dist/bench/logs.js
//
// Env: BENCH_LINES (per round, default 50000), BENCH_ROUNDS (default 3).
// Writes bench/results/logs.json.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SummonClient } from '../src/sdk/client.js';
import { httpGet, waitFor } from '../src/testing/wait.js';
import { machine } from './lib/proc.js';
import { deploySpewApp, spewToFile } from './lib/spew-app.js';
import { median } from './lib/platform.js';

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/bench
const repoRoot = path.resolve(here, '..', '..');
const LINES = Number(process.env.BENCH_LINES ?? 50_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

// ---------- the tail client (child process) ----------

async function clientMain(api: string, token: string, app: string, round: string, n: number): Promise<void> {
  const c = new SummonClient({ api, token });
  const ac = new AbortController();
  let ready = false;
  let count = 0;
  let firstAt = 0;
  const prefix = `spew ${round} `;
  await c.tailLogs(app, { limit: 1 }, (l) => {
    if (!ready) {
      ready = true;
      process.stdout.write('ready\n');
    }
    if (!l.text.startsWith(prefix)) return;
    if (count === 0) firstAt = Date.now();
    count++;
    if (count === n) {
      process.stdout.write(`${JSON.stringify({ count, firstAt, lastAt: Date.now() })}\n`);
      ac.abort();
    }
  }, ac.signal);
}

// ---------- the bench ----------

async function main(): Promise<void> {
  const { startSummon } = await import('../src/server.js');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'summon-bench-logs-'));
  const s = await startSummon({ dataDir: path.join(dir, 'data'), apiPort: 0, routerPort: 0 });
  try {
    const c = new SummonClient({ api: s.apiUrl, token: s.token });
    const app = 'spew';
    await deploySpewApp(s, c, app, dir);
    const routerPort = Number(new URL(s.routerUrl).port);

    const rounds: { tailLinesPerSec: number; appLoopMs: number; tailMs: number; fileLinesPerSec: number; fileMs: number }[] = [];
    for (let r = 1; r <= ROUNDS; r++) {
      const file = await spewToFile(dir, r, LINES);
      // the tail client, in its own process like `summon logs --tail`
      const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--client', s.apiUrl, s.token, app, String(r), String(LINES)], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout!.setEncoding('utf8');
      child.stdout!.on('data', (d: string) => (out += d));
      await waitFor(() => out.includes('ready\n'), { timeoutMs: 10_000, what: 'the tail client to connect' });
      const t0 = Date.now();
      const res = await httpGet(`http://127.0.0.1:${routerPort}/spew?n=${LINES}&round=${r}`, { headers: { host: `${app}.localhost` }, timeoutMs: 120_000 });
      if (res.status !== 200) throw new Error(`the spew app answered ${res.status}: ${res.body}`);
      const appLoop = JSON.parse(res.body) as { ms: number };
      const done = await waitFor(() => out.split('\n').find((l) => l.startsWith('{')), { timeoutMs: 120_000, what: `all ${LINES} lines at the tail client` });
      await new Promise((r2) => (child.exitCode !== null ? r2(null) : child.once('exit', r2)));
      const got = JSON.parse(done) as { count: number; firstAt: number; lastAt: number };
      const tailMs = got.lastAt - t0;
      rounds.push({
        tailLinesPerSec: Math.round((LINES * 1000) / tailMs), tailMs, appLoopMs: Math.round(appLoop.ms),
        fileLinesPerSec: Math.round((LINES * 1000) / file.ms), fileMs: Math.round(file.ms * 10) / 10,
      });
      console.log(`round ${r}: tail ${rounds.at(-1)!.tailLinesPerSec} lines/s (${tailMs} ms), file ${rounds.at(-1)!.fileLinesPerSec} lines/s (${file.ms.toFixed(1)} ms)`);
    }
    const tail = median(rounds.map((x) => x.tailLinesPerSec));
    const file = median(rounds.map((x) => x.fileLinesPerSec));
    const ratio = Math.round((tail / file) * 1000) / 1000;
    const held = s.logs.query(app).length;
    const memoryBytes = s.logs.memoryBytes();
    const result = {
      bench: 'logs', at: new Date().toISOString(), machine: machine(),
      linesPerRound: LINES, lineBytes: 'spew R I '.length + 64 + 6, rounds,
      tailLinesPerSec: tail, fileLinesPerSec: file, ratio, goal: 0.5, meetsGoal: ratio >= 0.5,
      logStore: { memoryBytes, linesHeld: held, maxBytesPerApp: 4 * 1024 * 1024, bytesPerLine: Math.round(memoryBytes / Math.max(1, held)) },
    };
    console.log(`\ninstance → tail client: ${tail} lines/s; same lines to a file: ${file} lines/s; ratio ${ratio}× (goal ≥ 0.5×)`);
    console.log(`log store: ${(memoryBytes / 1048576).toFixed(2)} MiB for ${held} lines of ${app}`);
    const resultsDir = path.join(repoRoot, 'bench', 'results');
    await mkdir(resultsDir, { recursive: true });
    await writeFile(path.join(resultsDir, 'logs.json'), `${JSON.stringify(result, null, 2)}\n`);
    console.log(`wrote ${path.join(resultsDir, 'logs.json')}`);
  } finally {
    await s.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--client') {
  const [api, token, app, round, n] = process.argv.slice(3);
  await clientMain(api, token, app, round, Number(n));
} else {
  await main();
}
