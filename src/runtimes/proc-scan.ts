// Finding processes by where they came from, for clean-up after a crash: a process that left
// its process group (setsid, a double fork) or was started in the instant before Summon could
// record it still runs in the directory it was given. Linux /proc only.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export interface ProcInfo {
  pgrp: number;
  /** Start time in clock ticks since boot (field 22 of /proc/PID/stat). */
  start: number;
}

/** Fields of /proc/PID/stat after the command name (which may hold spaces and parentheses). */
export function statFields(pid: number | string): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** Every process on the host, with its group and start time. */
export function listProcesses(): Map<number, ProcInfo> {
  const out = new Map<number, ProcInfo>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(name);
    if (f && f[0] !== 'Z') out.set(Number(name), { pgrp: Number(f[2]), start: Number(f[19]) });
  }
  return out;
}

/** The working directory of `pid` is one of `dirs` or inside one; false when unreadable. */
export function cwdInside(pid: number, dirs: string[]): boolean {
  try {
    const cwd = readlinkSync(`/proc/${pid}/cwd`).replace(/ \(deleted\)$/, '');
    return dirs.some((d) => cwd === d || cwd.startsWith(d + '/'));
  } catch {
    return false;
  }
}

/** Sends SIGKILL to every process (but this one) whose working directory is inside `dirs`. */
export function killProcessesIn(dirs: string[], also: (pid: number) => boolean = () => false, except: (pid: number, info: ProcInfo) => boolean = () => false): number {
  let killed = 0;
  for (const [pid, info] of listProcesses()) {
    if (pid === process.pid || !(cwdInside(pid, dirs) || also(pid)) || except(pid, info)) continue;
    try {
      process.kill(pid, 'SIGKILL');
      killed += 1;
    } catch {
      // exited meanwhile
    }
  }
  return killed;
}
