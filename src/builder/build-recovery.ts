// What a build leaves behind if Summon dies during it (kill -9, power loss): its temporary
// checkout, and build processes in process groups of their own that nothing will stop. Each
// build records the process groups it starts in `<build dir>.groups` (pid and start time, so
// a pid reused since is never signalled); at the next start, before any new build, every such
// group still alive is killed and every build directory removed.
import { appendFileSync, readFileSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { killProcessesIn, listProcesses, statFields, type ProcInfo } from '../runtimes/proc-scan.js';

/** The kernel's start time of a process (field 22 of /proc/PID/stat), or null when gone. */
export function processStartTime(pid: number): string | null {
  return statFields(pid)?.[19] ?? null;
}

/** The build's HOME in a process's environment: a daemon that also left the build's directory. */
function hasBuildHome(pid: number, dirs: string[]): boolean {
  try {
    const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    return dirs.some((d) => env.includes(`HOME=${join(d, 'home')}`));
  } catch {
    return false; // gone, or not ours to read
  }
}

/** Notes a build step's process group; synchronous, so it is on disk before the step runs long. */
export function recordGroup(groupsFile: string, pid: number): void {
  appendFileSync(groupsFile, `${pid} ${processStartTime(pid) ?? '?'}\n`);
}

export interface BuildRecovery {
  /** Build directories removed (names inside the work directory). */
  removed: string[];
  /** Build processes that were still running and were killed. */
  killed: number;
}

/** Kills what interrupted builds left running and removes their directories. */
export async function recoverBuilds(workDir: string): Promise<BuildRecovery> {
  let names: string[];
  try {
    names = await readdir(workDir);
  } catch {
    return { removed: [], killed: 0 }; // no build ever ran here
  }
  let killed = 0;
  let procs: Map<number, ProcInfo> | null = null;
  for (const name of names.filter((n) => n.endsWith('.groups'))) {
    const text = await readFile(join(workDir, name), 'utf8').catch(() => '');
    for (const line of text.split('\n')) {
      const [pidText, startText] = line.split(' ');
      const pgid = Number(pidText);
      if (!Number.isInteger(pgid) || pgid <= 1) continue;
      // The group's members, leader or not (a daemon outlives the shell that started it), and
      // only those started no earlier than the leader was: a group id reused since is left alone.
      const since = startText === '?' ? 0 : Number(startText);
      procs ??= listProcesses();
      for (const [pid, p] of procs) {
        if (p.pgrp !== pgid || p.start < since) continue;
        try {
          process.kill(pid, 'SIGKILL');
          killed += 1;
        } catch {
          // exited meanwhile
        }
      }
    }
  }
  // A process that left the group (setsid, a double fork) still shows where it came from: its
  // working directory inside a build directory, or the build's HOME in its environment.
  // Deliberate escapes are for the sandbox (cgroups) to stop; this catches careless daemons.
  const dirs = names.filter((n) => !n.endsWith('.groups')).map((n) => join(workDir, n));
  if (dirs.length) killed += killProcessesIn(dirs, (pid) => hasBuildHome(pid, dirs));
  const removed: string[] = [];
  for (const name of names) {
    await rm(join(workDir, name), { recursive: true, force: true });
    if (!name.endsWith('.groups')) removed.push(name);
  }
  return { removed, killed };
}
