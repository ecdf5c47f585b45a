// End-to-end helpers: Summon as a real child process (`summon up`), the real CLI, the real
// git client, and a load generator in its own process.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { access, constants, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import http from 'node:http';
import assert from 'node:assert/strict';
import { scaled, waitFor } from '../../src/testing/wait.js';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const BIN = join(ROOT, 'bin', 'summon.js');
export const EXAMPLES = join(ROOT, 'examples');

export interface SummonProcess {
  proc: ChildProcess;
  apiUrl: string;
  routerUrl: string;
  routerPort: number;
  /** Where HTTPS listens (the harness asks for any free port), null with --no-https. */
  httpsPort: number | null;
  dnsPort: number | null;
  token: string;
  env: NodeJS.ProcessEnv;
  output: () => string;
  /** What it wrote to stdout alone (the start-up block), and to stderr alone (Summon's own log). */
  stdout: () => string;
  stderr: () => string;
  /** Stops with SIGTERM and waits for the exit. */
  stop(): Promise<number | null>;
  kill9(): Promise<void>;
}

/** The data plane the e2e files run on: SUMMON_TEST_DATA_PLANE (scripts/run-tests.mjs runs the
 *  edge files once with each), else the Node router. */
export const TEST_DATA_PLANE: 'haproxy' | 'node' = process.env.SUMMON_TEST_DATA_PLANE === 'haproxy' ? 'haproxy' : 'node';

/** `--data-plane` for the run's data plane unless the test chose its own. */
export function dataPlaneArgs(extraArgs: string[]): string[] {
  return extraArgs.includes('--data-plane') ? [] : ['--data-plane', TEST_DATA_PLANE];
}

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `summon-${prefix}-`));
}

/** Starts `summon up` on dataDir with free ports; resolves once it printed its URLs. Its stop()
 *  stops the apps too (`--stop-apps-on-exit`, so a test leaves nothing running) unless
 *  `keepApps` (Summon's own default: a stop leaves them for the next start to adopt). */
export async function startSummonProcess(dataDir: string, extraArgs: string[] = [], configDir?: string, o: { keepApps?: boolean; bin?: string } = {}): Promise<SummonProcess> {
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_CONFIG_HOME: configDir ?? join(dataDir, "..", "config") };
  delete env.SUMMON_API;
  delete env.SUMMON_TOKEN;
  // The machine's vm-hello package cache, read-only to builds (see vmCache(), which may fill it later).
  await mkdir(vmCacheDir(), { recursive: true });
  const buildRo = ['--build-ro', vmCacheDir()];
  const stopApps = o.keepApps ? [] : ['--stop-apps-on-exit'];
  const proc = spawn(process.execPath, [o.bin ?? BIN, 'up', '--data', dataDir, '--api-port', '0', '--router-port', '0', '--https-port', '0', ...buildRo, ...stopApps, ...dataPlaneArgs(extraArgs), ...extraArgs], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (c) => {
    out += c;
    stdout += c;
  });
  proc.stderr!.on('data', (c) => {
    out += c;
    stderr += c;
  });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  let dead = false;
  void exited.then(() => (dead = true));
  await waitFor(() => {
    if (dead) throw new Error(`summon up exited: ${out}`);
    return /Token:\s+\S+/.test(out);
  }, { timeoutMs: 30_000, what: `summon up to start (output so far: ${out})` });
  const apiUrl = /API:\s+(http:\/\/\S+)/.exec(out)![1];
  const routerUrl = /Router:\s+(http:\/\/\S+)/.exec(out)![1];
  const dns = /DNS:\s+udp\+tcp \S+:(\d+)/.exec(out);
  const https = /HTTPS:\s+https:\/\/\S+:(\d+)/.exec(out);
  return {
    proc, apiUrl, routerUrl, routerPort: Number(new URL(routerUrl).port), httpsPort: https ? Number(https[1]) : null, dnsPort: dns ? Number(dns[1]) : null,
    token: /Token:\s+(\S+)/.exec(out)![1], env, output: () => out, stdout: () => stdout, stderr: () => stderr,
    stop: async () => {
      if (!dead) proc.kill('SIGTERM');
      return exited;
    },
    kill9: async () => {
      if (!dead) proc.kill('SIGKILL');
      await exited;
    },
  };
}

/** Starts `summon up` in a fresh temporary directory that is removed, with Summon stopped,
 *  when the test ends. */
export async function startSummonFor(t: { after(fn: () => Promise<void>): void }, prefix: string, extraArgs: string[] = []): Promise<SummonProcess> {
  const root = await tempDir(prefix);
  const s = await startSummonProcess(join(root, 'data'), extraArgs);
  t.after(async () => {
    await s.stop();
    await rm(root, { recursive: true, force: true });
  });
  return s;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function cli(s: { env: NodeJS.ProcessEnv }, ...args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: s.env, timeout: scaled(120_000) }, (err, stdout, stderr) => {
      const killed = err && err.killed ? `\n(summon ${args.join(' ')} was killed: ${err.signal ?? 'timeout'})` : '';
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr: stderr + killed });
    });
  });
}

/** A CLI command that prints JSON: exit 0 and its output parsed, or a failure that says what
 *  the command printed (regression: an empty stdout became "Unexpected end of JSON input"). */
export async function cliJson(s: { env: NodeJS.ProcessEnv }, ...args: string[]): Promise<any> {
  const r = await cli(s, ...args);
  assert.equal(r.code, 0, `summon ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  try {
    return JSON.parse(r.stdout);
  } catch (e) {
    throw new Error(`summon ${args.join(' ')} printed no JSON (${(e as Error).message}):\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
}

/** Copies an example into a fresh git repo on branch main; `edit` may change files first. */
export async function exampleRepo(example: string, edit?: (dir: string) => Promise<void>): Promise<string> {
  const dir = await tempDir(`repo-${example}`);
  await cp(join(EXAMPLES, example), dir, { recursive: true });
  await rm(join(dir, 'dist'), { recursive: true, force: true });
  await rm(join(dir, 'build'), { recursive: true, force: true });
  if (edit) await edit(dir);
  await git(dir, 'init', '-q', '-b', 'main');
  await commitAll(dir, 'initial');
  return dir;
}

export async function commitAll(dir: string, message: string): Promise<void> {
  await git(dir, 'add', '-A');
  await git(dir, '-c', 'user.email=dev@example.com', '-c', 'user.name=dev', 'commit', '-q', '--allow-empty', '-m', message);
}

export async function editFile(dir: string, file: string, f: (text: string) => string): Promise<void> {
  const p = join(dir, file);
  await writeFile(p, f(await readFile(p, 'utf8')));
}

export function git(dir: string, ...args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    execFile('git', args, { cwd: dir, env: { ...process.env, GIT_TERMINAL_PROMPT: '0' }, timeout: scaled(300_000), maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      if (err && args[0] !== 'push') reject(new Error(`git ${args.join(' ')} failed: ${stderr}`));
      else resolve({ code, stdout, stderr });
    });
  });
}

/** `git push` with the API token as the HTTP Basic password, as a user would. */
export function push(s: { apiUrl: string; token: string }, dir: string, app: string): Promise<CliResult> {
  const url = new URL(`${s.apiUrl}/git/${app}.git`);
  url.username = 'summon';
  url.password = s.token;
  return git(dir, 'push', url.toString(), 'main');
}

export interface Reply {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

/** One request through the router with Host: APP.localhost. */
export function viaRouter(s: { routerPort: number }, app: string, path = '/', timeoutMs = 30_000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: s.routerPort, path, headers: { host: `${app}.localhost` }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

export interface LoadSummary {
  sent: number;
  statuses: Record<string, number>;
  errors: Record<string, number>;
  /** [start ms, end ms, release] per 2xx response, in completion order. */
  samples: [number, number, string][];
}

export interface LoadRun {
  stop(): Promise<LoadSummary>;
  done: Promise<LoadSummary>;
  /** Requests completed so far (read from the generator's progress lines). */
  completed(): number;
}

/** Starts the load generator as a separate process: `rate` requests/s, at most `max`. */
export function startLoad(s: { routerPort: number }, app: string, opts: { rate: number; max: number; path?: string; concurrency?: number }): LoadRun {
  const script = join(ROOT, 'dist', 'src', 'testing', 'load-gen.js');
  const proc = spawn(process.execPath, [script, String(s.routerPort), `${app}.localhost`, opts.path ?? '/', String(opts.rate), String(opts.max), String(opts.concurrency ?? 16), 'samples'], { stdio: ['ignore', 'pipe', 'inherit'] });
  // A test that fails half-way must not be kept alive by its load generator.
  liveLoads.add(proc);
  proc.once('exit', () => liveLoads.delete(proc));
  proc.unref();
  (proc.stdout as unknown as { unref?: () => void }).unref?.();
  let out = '';
  let completed = 0;
  proc.stdout!.setEncoding('utf8');
  proc.stdout!.on('data', (c: string) => {
    out += c;
    const m = /progress (\d+)\n(?![\s\S]*progress)/.exec(out);
    if (m) completed = Number(m[1]);
  });
  const done = new Promise<LoadSummary>((resolve, reject) => {
    proc.once('exit', () => {
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (!line) reject(new Error(`load generator printed no summary: ${out.slice(-500)}`));
      else resolve(JSON.parse(line) as LoadSummary);
    });
  });
  return {
    done,
    completed: () => completed,
    stop: () => {
      proc.kill('SIGTERM');
      return done;
    },
  };
}

const liveLoads = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of liveLoads) p.kill('SIGKILL');
});

export function failures(l: LoadSummary): number {
  const bad = Object.entries(l.statuses).filter(([s]) => !s.startsWith('2')).reduce((a, [, n]) => a + n, 0);
  return bad + Object.values(l.errors).reduce((a, n) => a + n, 0);
}

/** No request of the load failed; the statuses and errors are the message when one did. */
export function assertNoFailures(l: LoadSummary): void {
  assert.equal(failures(l), 0, JSON.stringify({ statuses: l.statuses, errors: l.errors }));
}

/** A push under load switched versions cleanly: nothing failed, v1 answered before `pushedAt`,
 *  and every one of at least `minAfter` responses sent after it came from v2. */
export function assertCutOver(l: LoadSummary, pushedAt: number, minAfter: number): void {
  assertNoFailures(l);
  const after = l.samples.filter(([start]) => start > pushedAt);
  assert.ok(after.length > minAfter, `${after.length} responses after the push`);
  assert.deepEqual([...new Set(after.map(([, , v]) => v))], ['v2']);
  assert.ok(l.samples.some(([, , v]) => v === 'v1'), 'v1 served before the push');
}

function vmCacheDir(): string {
  if (process.env.SUMMON_VM_CACHE) return process.env.SUMMON_VM_CACHE;
  return '/var/cache/summon-vm-hello';
}

const vmCacheReady = new Map<string, Promise<string>>();

/**
 * Where vm-hello's build finds its Debian packages, fetched and unpacked once per machine.
 * A confined build sees only its checkout and its own cache, so the machine's package cache
 * is filled here, as root (like an operator's `apt-get download`), and every Summon the tests
 * start sees it read-only (`--build-ro`, added by startSummonProcess); the build then sets
 * SUMMON_VM_CACHE to it (config:set) and reads it without writing.
 */
export function vmCache(): Promise<string> {
  return fillVmCache('vm-hello', vmCacheDir());
}

/** vm-hello-arm64's Debian arm64 packages, as vmCache() does for vm-hello; a Summon that
 *  builds it is started with `--build-ro` this directory (VM_CACHE_ARM64). */
export function vmCacheArm64(): Promise<string> {
  return fillVmCache('vm-hello-arm64', VM_CACHE_ARM64);
}
export const VM_CACHE_ARM64 = '/var/cache/summon-vm-hello-arm64';

function fillVmCache(example: string, cacheDir: string): Promise<string> {
  let ready = vmCacheReady.get(example);
  if (ready) return ready;
  ready = (async () => {
    const dir = cacheDir;
    const ready = async () => (await access(join(dir, 'kernel', '.from')).then(() => true, () => false))
      && (await access(join(dir, 'busybox', '.from')).then(() => true, () => false));
    if (await ready()) return dir;
    await mkdir(dir, { recursive: true });
    const copy = await mkdtemp(join(tmpdir(), 'summon-vm-cache-fill-'));
    try {
      await cp(join(EXAMPLES, example), copy, { recursive: true });
      await new Promise<void>((resolve, reject) => {
        execFile('sh', [join(copy, 'build.sh')], { env: { ...process.env, SUMMON_VM_CACHE: dir }, timeout: 10 * 60_000, maxBuffer: 16 * 1024 * 1024 }, (err, _out, stderr) => (
          err ? reject(new Error(`filling the ${example} package cache ${dir} failed: ${err.message}\n${stderr}`)) : resolve()));
      });
    } finally {
      await rm(copy, { recursive: true, force: true });
    }
    return dir;
  })();
  vmCacheReady.set(example, ready);
  ready.catch(() => vmCacheReady.delete(example));
  return ready;
}

/** A real SMTP server on loopback that keeps every message, for notification tests: plain by
 *  default; TLS, STARTTLS and AUTH on request (src/testing/mailbox.ts). */
export { makeCert, startMailbox, type Mailbox, type MailboxOptions, type ReceivedMail } from '../../src/testing/mailbox.js';
