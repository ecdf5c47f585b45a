// HAProxy as a child of the data plane process: master-worker mode (`-W -S master.sock`), its
// master pid in DATA/haproxy/master.pid so a master left by a data plane that was SIGKILLed is
// found and stopped before the next one starts. Reloads go through the master socket
// (`reload`: a new worker takes the listeners, the old one finishes its connections). An
// unexpected exit is reported (the data plane starts it again with its current state).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';

export const HAPROXY_BIN = process.env.SUMMON_HAPROXY ?? 'haproxy';

/** `haproxy -v`'s version when it runs and is 2.6 or later, else why not. */
export function probeHaproxy(bin = HAPROXY_BIN): { ok: true; version: string } | { ok: false; reason: string } {
  const r = spawnSync(bin, ['-v'], { encoding: 'utf8', timeout: 5000 });
  if (r.error) return { ok: false, reason: `${bin}: ${(r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not installed' : r.error.message}` };
  const m = /HAProxy version (\d+)\.(\d+)\.(\S+)/.exec(r.stdout ?? '');
  if (!m) return { ok: false, reason: `${bin} -v said nothing like a version` };
  const [maj, min] = [Number(m[1]), Number(m[2])];
  if (maj < 2 || (maj === 2 && min < 6)) return { ok: false, reason: `HAProxy ${m[1]}.${m[2]} is older than 2.6` };
  return { ok: true, version: `${m[1]}.${m[2]}.${m[3]}` };
}

function isOurHaproxy(pid: number, cfg: string): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return false;
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return cmd.some((a) => a.endsWith('haproxy')) && cmd.includes(cfg);
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Stops a master a previous data plane left running (its pid file, its own config). */
export async function stopStrayMaster(pidFile: string, cfg: string): Promise<boolean> {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').trim());
  } catch {
    return false;
  }
  rmSync(pidFile, { force: true });
  if (!Number.isInteger(pid) || pid <= 1 || !isOurHaproxy(pid, cfg)) return false;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return false;
  }
  const until = Date.now() + 5000;
  while (Date.now() < until && isOurHaproxy(pid, cfg)) await sleep(20);
  if (isOurHaproxy(pid, cfg)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
    while (isOurHaproxy(pid, cfg)) await sleep(20);
  }
  return true;
}

export interface HaproxyProcessOptions {
  cfg: string;
  masterSocket: string;
  pidFile: string;
  onExit: (code: number | null, signal: NodeJS.Signals | null) => void;
  log: (msg: string) => void;
}

export class HaproxyProcess {
  private child: ChildProcess | null = null;
  private stopping = false;

  constructor(private readonly o: HaproxyProcessOptions) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts the master (after checking the configuration); resolves once it runs. */
  async start(): Promise<void> {
    const check = spawnSync(HAPROXY_BIN, ['-c', '-q', '-f', this.o.cfg], { encoding: 'utf8', timeout: 10_000 });
    if (check.status !== 0) throw new Error(`haproxy refused its configuration ${this.o.cfg}: ${(check.stderr || check.stdout).trim()}`);
    rmSync(this.o.masterSocket, { force: true });
    this.stopping = false;
    const child = spawn(HAPROXY_BIN, ['-W', '-S', `${this.o.masterSocket},mode,600`, '-p', this.o.pidFile, '-f', this.o.cfg], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    this.child = child;
    child.once('exit', (code, signal) => {
      if (this.child === child) this.child = null;
      if (!this.stopping) this.o.onExit(code, signal);
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', () => resolve());
      child.once('error', reject);
    });
  }

  /** Hitless reload through the master socket: the new worker reads the configuration again. */
  async reload(): Promise<void> {
    const check = spawnSync(HAPROXY_BIN, ['-c', '-q', '-f', this.o.cfg], { encoding: 'utf8', timeout: 10_000 });
    if (check.status !== 0) throw new Error(`haproxy refused its configuration ${this.o.cfg}: ${(check.stderr || check.stdout).trim()}`);
    await masterCommand(this.o.masterSocket, 'reload');
  }

  /** Soft stop (SIGUSR1: workers finish their connections, up to hard-stop-after), then SIGKILL. */
  async stop(graceMs = 5000): Promise<void> {
    const child = this.child;
    this.stopping = true;
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      rmSync(this.o.pidFile, { force: true });
      return;
    }
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGUSR1');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(this.o.pidFile, { force: true });
  }
}

function masterCommand(path: string, cmd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    let out = '';
    s.setEncoding('utf8');
    s.on('connect', () => s.write(`${cmd}\n`));
    s.on('data', (d: string) => (out += d));
    s.on('error', (e) => reject(new Error(`haproxy master socket ${path}: ${e.message}`)));
    s.on('close', () => resolve(out));
  });
}
