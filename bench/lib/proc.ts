// Small helpers for benchmarks: free ports, child processes that are always stopped,
// waiting for a TCP port, running wrk and parsing its report.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import { readFileSync } from 'node:fs';

export { freePort } from '../../src/agent/ports.js';

/** Tracks children so every one is stopped on exit, error or Ctrl-C. */
export class Children {
  private readonly list: ChildProcess[] = [];
  constructor() {
    const stop = () => {
      this.stopAllSync();
      process.exit(130);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    process.once('exit', () => this.stopAllSync());
  }
  spawn(cmd: string, args: string[], opts: { stdio?: 'pipe' | 'ignore'; cwd?: string } = {}): ChildProcess {
    const c = spawn(cmd, args, { stdio: opts.stdio === 'ignore' ? 'ignore' : ['ignore', 'pipe', 'pipe'], cwd: opts.cwd });
    this.list.push(c);
    return c;
  }
  async stop(c: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', ms = 3000): Promise<void> {
    if (c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill(signal);
    let t: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([exited.then(() => false), new Promise<boolean>((r) => (t = setTimeout(() => r(true), ms)))]);
    clearTimeout(t);
    if (timedOut) {
      c.kill('SIGKILL');
      await exited;
    }
  }
  async stopAll(): Promise<void> {
    for (const c of this.list.reverse()) await this.stop(c);
  }
  private stopAllSync(): void {
    for (const c of this.list) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
}

export async function waitForPort(port: number, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what} did not listen on ${port} within ${ms}ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function run(cmd: string, args: string[], timeoutMs = 120_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else resolve(stdout + stderr);
    });
  });
}

export interface WrkResult {
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  non2xx: number;
  socketErrors: number;
}

function toMs(v: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(v.trim());
  if (!m) throw new Error(`wrk: cannot read latency ${JSON.stringify(v)}`);
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : n * 60_000;
}

export function parseWrk(out: string): WrkResult {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const p50 = /^\s+50%\s+(\S+)/m.exec(out);
  const p99 = /^\s+99%\s+(\S+)/m.exec(out);
  const total = /(\d+) requests in/.exec(out);
  if (!rps || !p50 || !p99 || !total) throw new Error(`wrk output not understood:\n${out}`);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
  const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    requestsPerSec: Number(rps[1]),
    p50Ms: toMs(p50[1]),
    p99Ms: toMs(p99[1]),
    requests: Number(total[1]),
    non2xx: non2xx ? Number(non2xx[1]) : 0,
    socketErrors: errs ? errs.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
  };
}

export function machine(): { cpu: string; cores: number; node: string; memGiB: number } {
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpu = m[1].trim();
  } catch {
    // not Linux: keep os.cpus()
  }
  return { cpu, cores: os.cpus().length, node: process.version, memGiB: Math.round(os.totalmem() / 2 ** 30) };
}
