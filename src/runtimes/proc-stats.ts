// CPU and memory of a process from /proc, shared by every runtime that runs a host process
// (the app itself, or the QEMU that runs a VM).
import { readFile } from 'node:fs/promises';

const CLOCK_TICKS = 100; // USER_HZ on Linux x86_64
const PAGE_SIZE = 4096;

export interface ProcSample {
  cpuSeconds: number;
  at: number;
  startTicks: number;
  /** Exited, not yet reaped by its parent. */
  zombie: boolean;
}

/** Reads /proc/<pid>/stat; undefined when the process is gone. */
export async function readProcSample(pid: number): Promise<ProcSample | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    const startTicks = Number(rest[19]);
    return { cpuSeconds: (utime + stime) / CLOCK_TICKS, at: performance.now(), startTicks, zombie: rest[0] === 'Z' };
  } catch {
    return undefined;
  }
}

export async function readRssBytes(pid: number): Promise<number | undefined> {
  try {
    const statm = await readFile(`/proc/${pid}/statm`, 'utf8');
    return Number(statm.split(' ')[1]) * PAGE_SIZE;
  } catch {
    return undefined;
  }
}

/** Tracks the previous sample per key so each call returns CPU (in cores) since the last one. */
export class CpuMeter {
  private readonly last = new Map<string, ProcSample>();

  async sample(key: string, pid: number): Promise<{ cpu: number; memoryBytes: number } | undefined> {
    const s = await readProcSample(pid);
    if (!s) return undefined;
    const prev = this.last.get(key);
    this.last.set(key, s);
    const memoryBytes = (await readRssBytes(pid)) ?? 0;
    if (!prev || prev.startTicks !== s.startTicks) return { cpu: 0, memoryBytes };
    const wall = (s.at - prev.at) / 1000;
    const cpu = wall > 0 ? Math.max(0, (s.cpuSeconds - prev.cpuSeconds) / wall) : 0;
    return { cpu, memoryBytes };
  }

  /** The same for a group of processes (a confined instance's cgroup unit): their sum. */
  async sampleGroup(key: string, pids: number[]): Promise<{ cpu: number; memoryBytes: number } | undefined> {
    if (pids.length === 0) return undefined;
    let cpuSeconds = 0;
    let memoryBytes = 0;
    for (const pid of pids) {
      const p = await readProcSample(pid);
      if (!p) continue;
      cpuSeconds += p.cpuSeconds;
      memoryBytes += (await readRssBytes(pid)) ?? 0;
    }
    const s: ProcSample = { cpuSeconds, at: performance.now(), startTicks: 0, zombie: false };
    const prev = this.last.get(key);
    this.last.set(key, s);
    if (!prev) return { cpu: 0, memoryBytes };
    const wall = (s.at - prev.at) / 1000;
    return { cpu: wall > 0 ? Math.max(0, (s.cpuSeconds - prev.cpuSeconds) / wall) : 0, memoryBytes };
  }

  forget(key: string): void {
    this.last.delete(key);
  }
}

/** True when /proc/<pid> exists, runs (is no zombie) and started at `startTicks` (guards
 *  against pid reuse). */
export async function isSameProcess(pid: number, startTicks: number): Promise<boolean> {
  const s = await readProcSample(pid);
  return s !== undefined && s.startTicks === startTicks && !s.zombie;
}
