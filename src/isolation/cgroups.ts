// Resource limits and "kill everything it started" for builds and instances, through cgroups.
// Each controller (memory, cpu, pids) is used where this host has it: the v1 hierarchy
// (/sys/fs/cgroup/<controller>) when mounted, else the v2 one (cgroup2, wherever it is
// mounted) when that controller is enabled there. Summon's own cgroups live under the one
// Summon runs in (so a supervisor that limits or kills Summon's tree still reaches them), in a
// directory named after the DATA directory: summon-<key>/<unit>. A unit is one build or one
// instance; every process it starts stays in it, so a timeout or a stop reaches daemons too,
// and at start Summon empties and removes the units a crashed Summon left behind.
import { readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export type Controller = 'memory' | 'cpu' | 'pids';
const CONTROLLERS: Controller[] = ['memory', 'cpu', 'pids'];

export interface CgroupLimits {
  /** Hard memory limit; the kernel's OOM killer acts inside the unit past it. */
  memoryBytes?: number;
  /** Cores (0.5 = half of one core), as a CFS quota. */
  cpu?: number;
  /** Most tasks (processes and threads) at once. */
  pids?: number;
}

export interface Hierarchy {
  controller: Controller;
  version: 1 | 2;
  /** This Summon's directory in that hierarchy. */
  root: string;
}

interface Mount { point: string; fstype: string; options: string[] }

function mounts(mountinfo: string): Mount[] {
  return mountinfo.split('\n').filter(Boolean).map((line) => {
    const [left, right = ''] = line.split(' - ');
    const f = left!.split(' ');
    const r = right.split(' ');
    return { point: unescapeMount(f[4] ?? ''), fstype: r[0] ?? '', options: (r[2] ?? '').split(',') };
  });
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Where this process sits in each hierarchy, from /proc/self/cgroup ("N:controllers:/path"). */
function ownPaths(procCgroup: string): { v1: Map<string, string>; v2: string | null } {
  const v1 = new Map<string, string>();
  let v2: string | null = null;
  for (const line of procCgroup.split('\n').filter(Boolean)) {
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    const names = line.slice(first + 1, second);
    const path = line.slice(second + 1);
    if (names === '') v2 = path;
    else for (const n of names.split(',')) v1.set(n, path);
  }
  return { v1, v2 };
}

/** Finds, per controller, the hierarchy Summon can use. Pure over its inputs (tests feed it). */
export function locateHierarchies(mountinfo: string, procCgroup: string, v2Controllers: (dir: string) => string[], key: string): Hierarchy[] {
  const ms = mounts(mountinfo);
  const own = ownPaths(procCgroup);
  const found: Hierarchy[] = [];
  const v2Mount = ms.find((m) => m.fstype === 'cgroup2');
  for (const c of CONTROLLERS) {
    const v1 = ms.find((m) => m.fstype === 'cgroup' && m.options.includes(c));
    if (v1) {
      found.push({ controller: c, version: 1, root: join(v1.point, own.v1.get(c) ?? '/', `summon-${key}`) });
      continue;
    }
    if (v2Mount && own.v2 !== null) {
      const dir = join(v2Mount.point, own.v2);
      if (v2Controllers(dir).includes(c)) found.push({ controller: c, version: 2, root: join(dir, `summon-${key}`) });
    }
  }
  return found;
}

function readV2Controllers(dir: string): string[] {
  try {
    return readFileSync(join(dir, 'cgroup.controllers'), 'utf8').trim().split(/\s+/);
  } catch {
    return [];
  }
}

async function readInt(file: string, field?: string): Promise<number | null> {
  try {
    const text = await readFile(file, 'utf8');
    if (!field) return Number.parseInt(text.trim(), 10);
    const m = new RegExp(`^${field} (\\d+)$`, 'm').exec(text);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

export class CgroupUnit {
  constructor(readonly name: string, private readonly dirs: { h: Hierarchy; dir: string }[]) {}

  /** The cgroup.procs files a new process writes its pid to, one per hierarchy. */
  get procFiles(): string[] {
    // On v2 every controller is the same directory: one write each.
    return [...new Set(this.dirs.map((d) => join(d.dir, 'cgroup.procs')))];
  }

  get controllers(): Controller[] {
    return this.dirs.map((d) => d.h.controller);
  }

  async pids(): Promise<number[]> {
    const all = new Set<number>();
    for (const d of this.dirs) {
      try {
        for (const p of (await readFile(join(d.dir, 'cgroup.procs'), 'utf8')).split('\n')) if (p) all.add(Number(p));
      } catch {
        // gone
      }
    }
    return [...all];
  }

  /** Sends `signal` to every process in the unit. */
  async signal(signal: NodeJS.Signals): Promise<number> {
    const pids = await this.pids();
    for (const pid of pids) {
      try {
        process.kill(pid, signal);
      } catch {
        // exited meanwhile
      }
    }
    return pids.length;
  }

  /** SIGKILLs everything in the unit until it is empty (a fork bomb keeps forking while we kill). */
  async killAll(deadlineMs = 5000): Promise<boolean> {
    const until = Date.now() + deadlineMs;
    for (;;) {
      if ((await this.signal('SIGKILL')) === 0) return true;
      if (Date.now() > until) return false;
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Whether the kernel's OOM killer has killed a process of this unit. */
  async oomKilled(): Promise<boolean> {
    const mem = this.dirs.find((d) => d.h.controller === 'memory');
    if (!mem) return false;
    const n = mem.h.version === 1
      ? await readInt(join(mem.dir, 'memory.oom_control'), 'oom_kill')
      : await readInt(join(mem.dir, 'memory.events'), 'oom_kill');
    return (n ?? 0) > 0;
  }

  async memoryBytes(): Promise<number | null> {
    const mem = this.dirs.find((d) => d.h.controller === 'memory');
    if (!mem) return null;
    return readInt(join(mem.dir, mem.h.version === 1 ? 'memory.usage_in_bytes' : 'memory.current'));
  }

  /** Kills what is left and removes the unit's directories. */
  async remove(): Promise<void> {
    await this.killAll();
    for (const d of this.dirs) await rmdirPatiently(d.dir);
  }
}

async function rmdirPatiently(dir: string): Promise<void> {
  // The kernel frees a cgroup a moment after its last task is reaped: EBUSY until then.
  for (let i = 0; i < 100; i++) {
    try {
      await rmdir(dir);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY') throw e;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

export class CgroupTree {
  private constructor(private readonly hierarchies: Hierarchy[]) {}

  /** A tree over given hierarchies (tests point it at a directory standing in for cgroupfs). */
  static over(hierarchies: Hierarchy[]): CgroupTree {
    return new CgroupTree(hierarchies);
  }

  /** This Summon's cgroups; `key` names them apart from another Summon's on the same host. */
  static open(key: string): CgroupTree {
    let mountinfo = '';
    let procCgroup = '';
    try {
      mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
      procCgroup = readFileSync('/proc/self/cgroup', 'utf8');
    } catch {
      // not Linux: no cgroups
    }
    return new CgroupTree(locateHierarchies(mountinfo, procCgroup, readV2Controllers, key));
  }

  /** Which controllers this host gives Summon, and in which hierarchy. */
  describe(): { controller: Controller; version: 1 | 2; root: string }[] {
    return this.hierarchies.map((h) => ({ ...h }));
  }

  /** At stop: this Summon's directories go if they are empty (see releaseRoots). */
  release(): Promise<string[]> {
    return releaseRoots(this.hierarchies.map((h) => h.root));
  }

  has(c: Controller): boolean {
    return this.hierarchies.some((h) => h.controller === c);
  }

  /** Makes (or empties and reuses) the unit `name` with these limits. */
  async unit(name: string, limits: CgroupLimits): Promise<CgroupUnit> {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new Error(`cgroup unit name ${JSON.stringify(name)} is not a plain name`);
    const dirs: { h: Hierarchy; dir: string }[] = [];
    for (const h of this.hierarchies) {
      const dir = join(h.root, name);
      try {
        await mkdir(dir, { recursive: true });
        if (h.version === 2) await enableV2(h.root, h.controller);
        await applyLimit(h, dir, limits);
        dirs.push({ h, dir });
      } catch (e) {
        throw new Error(`could not set up the ${h.controller} cgroup ${dir}: ${(e as Error).message}`);
      }
    }
    const unit = new CgroupUnit(name, dirs);
    await unit.killAll(); // a leftover from a crashed run with the same name
    return unit;
  }

  /** The unit `name` as it is (an instance adopted from a previous run): nothing made or emptied. */
  existing(name: string): CgroupUnit {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new Error(`cgroup unit name ${JSON.stringify(name)} is not a plain name`);
    return new CgroupUnit(name, this.hierarchies.map((h) => ({ h, dir: join(h.root, name) })));
  }

  /** Empties and removes every unit under this Summon's directory (left by a previous run)
   *  but those `keep` names (instances the next start adopts); says which held processes,
   *  and how many. */
  async reap(keep: (unit: string) => boolean = () => false): Promise<{ unit: string; processes: number }[]> {
    const names = new Set<string>();
    for (const h of this.hierarchies) {
      let entries: string[] = [];
      try {
        entries = (await readdir(h.root, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
      } catch {
        continue;
      }
      for (const n of entries) names.add(n);
    }
    const reaped: { unit: string; processes: number }[] = [];
    for (const n of names) {
      if (keep(n)) continue;
      const dirs = this.hierarchies.map((h) => ({ h, dir: join(h.root, n) }));
      const unit = new CgroupUnit(n, dirs);
      const processes = (await unit.pids()).length;
      if (processes > 0) reaped.push({ unit: n, processes });
      await unit.remove();
    }
    return reaped;
  }
}

/** Removes this Summon's own directory in each hierarchy if nothing is left in it (a stop
 *  that stopped every instance); one with units still in it (instances left running for the
 *  next start to adopt) stays. */
export async function releaseRoots(roots: string[]): Promise<string[]> {
  const removed: string[] = [];
  for (const root of new Set(roots)) {
    try {
      await rmdir(root);
      removed.push(root);
    } catch {
      // ENOTEMPTY (units in it), EBUSY (a task still in it), ENOENT: left as it is
    }
  }
  return removed;
}

async function enableV2(root: string, c: Controller): Promise<void> {
  const own = root.slice(0, root.lastIndexOf('/'));
  // The cgroup Summon runs in must hand the controller down to Summon's directory, and that
  // to its units. v2 allows that only in a cgroup without processes of its own (the root
  // excepted): when Summon's own cgroup refuses (EBUSY), Summon moves itself into a leaf
  // beside its units, as a delegated service does (systemd's Delegate=yes), and asks again.
  try {
    await addController(own, c);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EBUSY') throw e;
    const leaf = join(own, `${root.slice(root.lastIndexOf('/') + 1)}-supervisor`);
    await mkdir(leaf, { recursive: true });
    await writeFile(join(leaf, 'cgroup.procs'), String(process.pid));
    await addController(own, c);
  }
  await addController(root, c);
}

async function addController(dir: string, c: Controller): Promise<void> {
  const current = (await readFile(join(dir, 'cgroup.subtree_control'), 'utf8').catch(() => '')).split(/\s+/);
  if (!current.includes(c)) await writeFile(join(dir, 'cgroup.subtree_control'), `+${c}`);
}

const CPU_PERIOD_US = 100_000;

async function applyLimit(h: Hierarchy, dir: string, l: CgroupLimits): Promise<void> {
  const put = (file: string, value: string | number) => writeFile(join(dir, file), String(value));
  if (h.controller === 'memory') {
    if (h.version === 1) {
      await put('memory.limit_in_bytes', l.memoryBytes ?? -1);
      // Without swap accounting the limit is memory alone; with it, memory + swap too.
      await put('memory.memsw.limit_in_bytes', l.memoryBytes ?? -1).catch(() => undefined);
    } else {
      await put('memory.max', l.memoryBytes ?? 'max');
      await put('memory.swap.max', l.memoryBytes ? 0 : 'max').catch(() => undefined);
    }
  } else if (h.controller === 'pids') {
    await put('pids.max', l.pids ?? 'max');
  } else if (h.controller === 'cpu') {
    const quota = l.cpu ? Math.max(1000, Math.round(l.cpu * CPU_PERIOD_US)) : -1;
    if (h.version === 1) {
      await put('cpu.cfs_period_us', CPU_PERIOD_US);
      await put('cpu.cfs_quota_us', quota);
    } else {
      await put('cpu.max', `${quota < 0 ? 'max' : quota} ${CPU_PERIOD_US}`);
    }
  }
}
