// Helpers for the platform benchmarks (push-to-live, crash recovery, rollout, cold start,
// autoscale, idle density): Summon in its own process, the app's own start-to-ready measured
// directly, /proc readings, small statistics, a column printer and the result file.
import { waitFor } from '../../src/testing/wait.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SummonClient, type SummonEvent } from '../../src/sdk/client.js';
import { freePort, machine } from './proc.js';

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/bench/lib
export const REPO_ROOT = path.resolve(here, '..', '..', '..');
export const RESULTS_DIR = path.join(REPO_ROOT, 'bench', 'results');

export interface RunningSummonProc {
  proc: ChildProcess;
  pid: number;
  apiUrl: string;
  routerUrl: string;
  routerPort: number;
  token: string;
  client: SummonClient;
  output(): string;
  /** The child's memory right after two forced full GCs (it runs with --expose-gc). */
  memAfterGc(): Promise<ChildMemory>;
  stop(): Promise<void>;
}

export interface ChildMemory {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

/** Options passed through to startSummon in the child (JSON-serialisable subset). */
export interface ChildOptions {
  dataDir: string;
  autoscale?: { outMs?: number; inMs?: number; cooldownMs?: number };
  hold?: { maxRequests?: number; maxWaitMs?: number };
  deployDeadlineMs?: number;
  seriesIntervalMs?: number;
  /** Builds and process instances unconfined (`summon up --unconfined`). */
  unconfined?: boolean;
}

/**
 * Starts Summon in its own process through startSummon (dist/bench/lib/summon-child.js), so a
 * benchmark can set options `summon up` has no flag for (e.g. the autoscale windows). The
 * child runs the same composition root as `summon up --no-vm`.
 */
export async function startSummonChild(o: ChildOptions, timeoutMs = 30_000): Promise<RunningSummonProc> {
  const proc = spawn(process.execPath, ['--expose-gc', path.join(here, 'summon-child.js'), JSON.stringify(o)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.setEncoding('utf8');
  proc.stderr!.setEncoding('utf8');
  proc.stdout!.on('data', (c: string) => (out += c));
  proc.stderr!.on('data', (c: string) => (out += c));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const info = await new Promise<{ apiUrl: string; routerUrl: string; token: string }>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`summon child did not start in ${timeoutMs} ms: ${out}`)), timeoutMs);
    const check = () => {
      const line = out.split('\n').find((l) => l.startsWith('{"apiUrl"'));
      if (line) {
        clearTimeout(t);
        proc.stdout!.off('data', check);
        resolve(JSON.parse(line) as { apiUrl: string; routerUrl: string; token: string });
      }
    };
    proc.stdout!.on('data', check);
    void exited.then(() => {
      clearTimeout(t);
      reject(new Error(`summon child exited: ${out}`));
    });
  });
  let stopping: Promise<void> | null = null;
  return {
    proc, pid: proc.pid!, ...info, routerPort: Number(new URL(info.routerUrl).port),
    client: new SummonClient({ api: info.apiUrl, token: info.token }),
    output: () => out,
    memAfterGc: () => new Promise<ChildMemory>((resolve, reject) => {
      let buf = '';
      const t = setTimeout(() => done(new Error('the summon child did not answer "mem" within 10 s')), 10_000);
      const onData = (c: string) => {
        buf += c;
        const line = buf.split('\n').find((l) => l.startsWith('{"mem"'));
        if (line) done(null, (JSON.parse(line) as { mem: ChildMemory }).mem);
      };
      const done = (err: Error | null, m?: ChildMemory) => {
        clearTimeout(t);
        proc.stdout!.off('data', onData);
        if (err) reject(err);
        else resolve(m!);
      };
      proc.stdout!.on('data', onData);
      proc.stdin!.write('mem\n');
    }),
    stop: () => {
      stopping ??= (async () => {
        if (proc.exitCode !== null || proc.signalCode !== null) return;
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(t);
      })();
      return stopping;
    },
  };
}

// ---------- the app's own start-to-ready ----------

const BASE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Spawns an artifact the way the process runtime does (argv with {port}, PORT, the same PATH)
 * and polls it every `pollMs` until `probePath` answers 2xx: the app's own start-to-ready,
 * with no platform in between. Stops it again (SIGKILL) and waits for the exit.
 */
export async function directStartToReady(artifact: string, args: string[], probePath = '/healthy', pollMs = 1): Promise<number> {
  const port = await freePort();
  const argv = args.map((a) => a.replaceAll('{port}', String(port)));
  const t0 = performance.now();
  const child = spawn(artifact, argv, {
    env: { PATH: BASE_PATH, LANG: 'C.UTF-8', PORT: String(port), SUMMON_RELEASE: 'v0', SUMMON_INSTANCE: 'direct' },
    stdio: 'ignore', detached: true,
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const status = await getStatus(port, probePath).catch(() => 0);
      if (status >= 200 && status < 400) return performance.now() - t0;
      if (child.exitCode !== null) throw new Error(`${artifact} exited with ${child.exitCode} before answering`);
      if (Date.now() > deadline) throw new Error(`${artifact} did not answer ${probePath} within 20 s`);
      await sleep(pollMs);
    }
  } finally {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
    await exited;
  }
}

function getStatus(port: number, p: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.setTimeout(2000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

// ---------- requests through the router ----------

export interface RouterReply { status: number; body: string }

/** One GET through the router with Host: APP.localhost (a fresh connection each time). */
export function routerGet(routerPort: number, app: string, p = '/', timeoutMs = 30_000): Promise<RouterReply> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: routerPort, path: p, headers: { host: `${app}.localhost` }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** Events of an app, oldest first. */
export async function eventsOf(c: SummonClient, app: string, limit = 1000): Promise<SummonEvent[]> {
  const list = await c.events(app, { limit });
  return [...list].sort((a, b) => a.at - b.at || a.id - b.id);
}

// ---------- /proc ----------

export function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]);
}

/** utime + stime of a process, in clock ticks (USER_HZ, 100 on Linux). */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime is field 14, stime field 15.
  return Number(fields[11]) + Number(fields[12]);
}
export const TICKS_PER_SECOND = 100;

// ---------- numbers and output ----------

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Runs git quietly in `dir`; rejects with its stderr when it fails. */
export function git(dir: string, ...args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('git', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } });
    let err = '';
    p.stderr!.on('data', (c) => (err += c));
    p.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`git ${args[0]} failed: ${err}`))));
  });
}

export function median(xs: number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function summary(xs: number[]): { n: number; median: number; min: number; max: number } {
  return { n: xs.length, median: round(median(xs)), min: round(Math.min(...xs)), max: round(Math.max(...xs)) };
}

export function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** A plain column table: the first row is the header; numbers are right-aligned. */
export function table(rows: (string | number)[][]): string {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? String(round(c)) : c)));
  const widths = cells[0].map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells
    .map((r) => r.map((c, i) => (typeof rows[1]?.[i] === 'number' ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd())
    .join('\n');
}

export function writeResult(name: string, data: Record<string, unknown>): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `${name}.json`);
  const body = { benchmark: name, at: new Date().toISOString(), machine: machine(), ...data };
  writeFileSync(file, JSON.stringify(body, null, 2) + '\n');
  return path.relative(process.cwd(), file);
}

/** Runs main, prints the error and sets a non-zero exit code on failure. */
export function runBench(name: string, main: () => Promise<void>): void {
  main().then(
    () => process.exit(process.exitCode ?? 0),
    (e: Error) => {
      process.stderr.write(`bench/${name}: ${e.stack ?? e.message}\n`);
      process.exit(1);
    },
  );
}

// ---------- apps ----------

export { exampleRepo, commitAll, editFile, push, startLoad, failures, tempDir } from '../../test/e2e/harness.js';
import { exampleRepo as exampleRepoH, push as pushH } from '../../test/e2e/harness.js';

/** Creates APP, pushes examples/hello-node with `toml` edits to its summon.toml, returns the repo. */
export async function deployHello(s: RunningSummonProc, app: string, toml: (text: string) => string = (t) => t): Promise<string> {
  await s.client.createApp(app);
  const { readFile, writeFile } = await import('node:fs/promises');
  const repo = await exampleRepoH('hello-node', async (d) => {
    const f = path.join(d, 'summon.toml');
    await writeFile(f, toml(await readFile(f, 'utf8')));
  });
  removeOnExit(repo);
  const r = await pushH(s, repo, app);
  if (r.code !== 0) throw new Error(`git push ${app} failed: ${r.stderr}`);
  return repo;
}

const leftovers = new Set<string>();
/** Removes `dir` when this process exits, however it exits. */
export function removeOnExit(dir: string): void {
  if (leftovers.size === 0) {
    process.once('exit', () => {
      for (const d of leftovers) rmSync(d, { recursive: true, force: true });
    });
  }
  leftovers.add(dir);
}

/** Polls until `check` returns a value (every `everyMs`), or throws after `timeoutMs`. */
export function until<T>(what: string, check: () => Promise<T | undefined | null | false>, timeoutMs = 30_000, everyMs = 10): Promise<T> {
  return waitFor(check, { timeoutMs, intervalMs: everyMs, what });
}

/** The path of a stored artifact in a Summon data dir (see artifacts/blob-store.ts). */
export function blobPath(dataDir: string, sha256: string): string {
  return path.join(dataDir, 'blobs', sha256.slice(0, 2), sha256);
}

// ---------- load ----------

export interface LoadCounts {
  sent: number;
  statuses: Record<string, number>;
  errors: Record<string, number>;
  releases: Record<string, number>;
  seconds: number;
}

export interface CountingLoad {
  completed(): number;
  /** Epoch ms of the first request sent, once it was. */
  startedAt(): number | null;
  done: Promise<LoadCounts>;
  stop(): Promise<LoadCounts>;
}

/** Starts the load generator (dist/src/testing/load-gen.js): `rate` req/s through the router to APP, at most `max`. */
export function startCountingLoad(routerPort: number, app: string, o: { rate: number; max: number; path?: string; concurrency?: number }): CountingLoad {
  const proc = spawn(process.execPath, [path.join(here, '..', '..', 'src', 'testing', 'load-gen.js'), String(routerPort), `${app}.localhost`, o.path ?? '/', String(o.rate), String(o.max), String(o.concurrency ?? 16)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let tail = '';
  let completed = 0;
  let summary = '';
  let startedAt: number | null = null;
  proc.stdout!.setEncoding('utf8');
  proc.stdout!.on('data', (c: string) => {
    tail += c;
    const lines = tail.split('\n');
    tail = lines.pop()!;
    for (const l of lines) {
      if (l.startsWith('progress ')) completed = Number(l.slice(9));
      else if (l.startsWith('started ')) startedAt = Number(l.slice(8));
      else if (l.startsWith('{')) summary = l;
    }
  });
  const done = new Promise<LoadCounts>((resolve, reject) => {
    proc.once('exit', () => (summary ? resolve(JSON.parse(summary) as LoadCounts) : reject(new Error('load generator printed no summary'))));
  });
  done.catch(() => undefined);
  return {
    done,
    completed: () => completed,
    startedAt: () => startedAt,
    stop: () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      return done;
    },
  };
}

export function loadFailures(l: LoadCounts): number {
  const bad = Object.entries(l.statuses).filter(([k]) => !k.startsWith('2')).reduce((a, [, n]) => a + n, 0);
  return bad + Object.values(l.errors).reduce((a, n) => a + n, 0);
}

/** "12× faster" when ours is smaller than the peer's figure, "the peer is 1.5× faster" otherwise. */
export function faster(peerMs: number, oursMs: number): string {
  const r = peerMs / oursMs;
  return r >= 1 ? `Summon ${round(r, r >= 10 ? 0 : 1)}× faster` : `the peer ${round(1 / r, 1)}× faster`;
}
