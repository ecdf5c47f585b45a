// Runs a build step or a process instance confined, the way Kubernetes' "restricted" pod
// profile and Fly's jailer do: as the app's own unprivileged uid/gid, with no capabilities
// and no-new-privileges, under a seccomp filter, in its own cgroup (memory, cpu, pids), and
// in a mount namespace that shows it only the read-only system (/usr, /etc and the /bin,
// /lib links), its own working directory, the artifact read-only, a private /tmp, a fresh
// /proc of its own pid namespace and a minimal /dev. Summon's DATA directory, keys and
// tokens, and every other app's files and processes are not there at all.
//
// The tools are kept ones: bubblewrap (Debian's `bubblewrap`, the sandbox Flatpak uses) for
// the namespaces, mounts and seccomp, and util-linux's `setpriv` for the switch to the app's
// user. bwrap runs as root without a user namespace (so its bind mounts see files only root
// may read, like the 0700 DATA directory), then setpriv drops every capability and the
// bounding set, clears the supplementary groups and switches uid and gid; the command never
// runs with a privilege. The first process is a shell that puts itself in the unit's cgroups
// before it execs bwrap, so no process of the unit ever runs outside them.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { constants as osConstants } from 'node:os';
import { constants } from 'node:fs';
import { access, chmod, chown, lstat, mkdir, open, readdir, readlink, writeFile, type FileHandle } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { CgroupTree, type CgroupLimits, type CgroupUnit } from './cgroups.js';
import { filterBytes, seccompArch } from './seccomp.js';
import { UidAllocator, type UidRange } from './uids.js';

export interface ConfineRequest {
  /** The cgroup unit's name (a build id, an instance id). */
  unit: string;
  app: string;
  command: string[];
  cwd: string;
  /** Bound read-write at the same path. */
  rw: string[];
  /** Bound read-only at the same path. */
  ro: string[];
  /** Bound read-only elsewhere: `from` on the host shows at `to` in the sandbox. */
  roAt?: { from: string; to: string }[];
  /** host: the host's network (a process instance listens on its port there); none: loopback only. */
  network: 'host' | 'none';
  limits: CgroupLimits;
}

export interface ConfinedCommand {
  file: string;
  args: string[];
  uid: number;
  gid: number;
  unit: CgroupUnit;
  /** The seccomp program, to be passed as the child's fd 3. */
  seccompFd: number;
  /** Closes Summon's copy of the seccomp fd once the child has it. */
  release(): Promise<void>;
}

export interface ConfinerStatus {
  enabled: boolean;
  reason: string;
  cgroups: { controller: string; version: 1 | 2; root: string }[];
}

const SYSTEM_DIRS = ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];
/** Mounted by every sandbox: a bind below them needs no parent made. */
const SANDBOX_ROOTS = ['/usr', '/etc', '/proc', '/dev', ...SYSTEM_DIRS];
const execFileP = promisify(execFile);
const JOIN_CGROUPS = 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ >"$1" || { echo "summon: could not join cgroup $1" >&2; exit 125; }; shift; n=$((n-1)); done; exec "$@"';

async function which(cmd: string): Promise<string | null> {
  for (const dir of ['/usr/bin', '/usr/sbin', '/bin', '/sbin', '/usr/local/bin']) {
    const p = join(dir, cmd);
    if (await access(p, constants.X_OK).then(() => true, () => false)) return p;
  }
  return null;
}

export class Confiner {
  private constructor(
    private readonly bwrap: string,
    private readonly setpriv: string,
    private readonly seccompFile: string,
    readonly cgroups: CgroupTree,
    readonly uids: UidAllocator,
    private readonly systemArgs: string[],
  ) {}

  /**
   * Confinement for the Summon whose DATA directory is `dataDir`, or the reason it cannot be
   * had on this host (not root, no bwrap or setpriv, an architecture without a filter).
   */
  static async create(dataDir: string, opts: { uidRange?: UidRange } = {}): Promise<Confiner | { unavailable: string }> {
    if (process.getuid?.() !== 0) return { unavailable: 'Summon is not running as root, so it cannot switch builds and instances to their apps\' users' };
    const bwrap = await which('bwrap');
    if (!bwrap) return { unavailable: 'bubblewrap is not installed (apt-get install bubblewrap, or scripts/setup.sh)' };
    const setpriv = await which('setpriv');
    if (!setpriv) return { unavailable: 'setpriv (util-linux) is not installed' };
    const arch = seccompArch();
    if (!arch) return { unavailable: `no seccomp filter is defined for ${process.arch}` };
    const seccompFile = join(dataDir, 'seccomp.bpf');
    // Root (checked above) rewrites it whatever its mode; the mode is set again for a file
    // made before (writeFile's mode applies only to a new one).
    await writeFile(seccompFile, filterBytes(arch), { mode: 0o400 });
    await chmod(seccompFile, 0o400);
    const key = createHash('sha256').update(resolve(dataDir)).digest('hex').slice(0, 12);
    const systemArgs: string[] = ['--ro-bind', '/usr', '/usr', '--ro-bind', '/etc', '/etc'];
    for (const d of SYSTEM_DIRS) {
      const st = await lstat(d).catch(() => null);
      if (!st) continue;
      if (st.isSymbolicLink()) systemArgs.push('--symlink', await readlink(d), d);
      else if (st.isDirectory()) systemArgs.push('--ro-bind', d, d);
    }
    return new Confiner(bwrap, setpriv, seccompFile, CgroupTree.open(key), new UidAllocator(dataDir, opts.uidRange), systemArgs);
  }

  status(): ConfinerStatus {
    return { enabled: true, reason: 'builds and process instances run as their app\'s user, in bubblewrap, under seccomp, in cgroups', cgroups: this.cgroups.describe() };
  }

  /** Empties and removes the cgroups a previous Summon left behind, but those `keep` names
   *  (instances adopted by this start); says which held processes. */
  reap(keep?: (unit: string) => boolean): Promise<{ unit: string; processes: number }[]> {
    return this.cgroups.reap(keep);
  }

  /** Makes `dir` the app user's own (0700), so only it (and root) can read and write there. */
  async own(dir: string, uid: number): Promise<void> {
    await mkdir(dir, { recursive: true });
    // An instance's fresh work directory is one chown (a cold start waits on it); a checkout
    // of up to 100,000 files is chown -R in a child, off Summon's event loop.
    if ((await readdir(dir)).length === 0) await chown(dir, uid, uid);
    else await execFileP('chown', ['-R', `${uid}:${uid}`, dir]);
    await chmod(dir, 0o700);
  }

  /**
   * `command` as the user `ids` (its supplementary groups only `ids.groups`), with no
   * capabilities and no-new-privileges, in `unit`'s cgroups from its first instruction, and
   * without bubblewrap: for a VMM (QEMU, a solo5 tender) that has its own seccomp sandbox and
   * opens only what it is handed. The shell and setpriv exec it, so it keeps the child's pid.
   */
  asUser(unit: CgroupUnit, ids: { uid: number; gid: number; groups?: number[] }, command: string[]): { file: string; args: string[] } {
    const procFiles = unit.procFiles;
    const groups = ids.groups?.length ? [`--groups=${ids.groups.join(',')}`] : ['--clear-groups'];
    return {
      file: '/bin/sh',
      args: ['-c', JOIN_CGROUPS, 'summon-confine', String(procFiles.length), ...procFiles,
        this.setpriv, `--reuid=${ids.uid}`, `--regid=${ids.gid}`, ...groups,
        '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs', '--', ...command],
    };
  }

  async prepare(req: ConfineRequest): Promise<ConfinedCommand> {
    const uid = await this.uids.uidFor(req.app);
    const unit = await this.cgroups.unit(req.unit, req.limits);
    const mounts: string[] = [];
    // bwrap makes missing parents 0700 root, which the app's user could not pass through:
    // they are made 0755 here first (they hold nothing but the mount below them).
    const parents = new Set<string>();
    for (const p of [...req.ro, ...req.rw, ...(req.roAt ?? []).map((b) => b.to), req.cwd]) {
      for (let d = dirname(p); d !== '/' && !SANDBOX_ROOTS.some((r) => d === r || d.startsWith(`${r}/`)); d = dirname(d)) parents.add(d);
    }
    for (const d of [...parents].sort()) mounts.push('--perms', '0755', '--dir', d);
    for (const p of req.ro) {
      await access(p, constants.R_OK);
      mounts.push('--ro-bind', p, p);
    }
    for (const b of req.roAt ?? []) {
      await access(b.from, constants.R_OK);
      mounts.push('--ro-bind', b.from, b.to);
    }
    for (const p of req.rw) mounts.push('--bind', p, p);
    const bwrapArgs = [
      '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try',
      ...(req.network === 'none' ? ['--unshare-net'] : []),
      '--hostname', req.app,
      '--new-session',
      ...this.systemArgs,
      '--proc', '/proc', '--dev', '/dev', '--perms', '1777', '--tmpfs', '/tmp', '--perms', '1777', '--tmpfs', '/var/tmp',
      ...mounts,
      '--chdir', req.cwd,
      '--seccomp', '3',
      '--', this.setpriv, `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups',
      '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs', '--',
      ...req.command,
    ];
    let fh: FileHandle | undefined = await open(this.seccompFile, 'r');
    const procFiles = unit.procFiles;
    return {
      file: '/bin/sh',
      args: ['-c', JOIN_CGROUPS, 'summon-confine', String(procFiles.length), ...procFiles, this.bwrap, ...bwrapArgs],
      uid,
      gid: uid,
      unit,
      seccompFd: fh.fd,
      release: async () => {
        const h = fh;
        fh = undefined;
        await h?.close();
      },
    };
  }
}

/**
 * Spawns a prepared command in its own session (so Summon can signal it as a group too),
 * with the seccomp program as fd 3. stdout and stderr are pipes; stdin is /dev/null.
 */
/** `output`: descriptors for the command's stdout and stderr (default: pipes to this process). */
export function spawnConfined(c: ConfinedCommand, env: Record<string, string>, output?: [number, number]): ChildProcess {
  const child = spawn(c.file, c.args, { cwd: '/', env, detached: true, stdio: ['ignore', output?.[0] ?? 'pipe', output?.[1] ?? 'pipe', c.seccompFd] });
  const done = () => void c.release();
  child.once('spawn', done);
  child.once('error', done);
  return child;
}

/**
 * Asks a confined command to stop: SIGTERM to every process of its unit but the outer
 * bwrap (which would die at once and report the command gone while it is still shutting
 * down); the namespace's init ignores it and exits once the command has.
 */
export async function terminateConfined(unit: CgroupUnit, outerPid: number | undefined): Promise<void> {
  for (const pid of await unit.pids()) {
    if (pid === outerPid) continue;
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // exited meanwhile
    }
  }
}

/** bwrap reports a command killed by signal N as exit 128+N: turned back into the signal. */
export function confinedExit(code: number | null, signal: NodeJS.Signals | null): { code: number | null; signal: NodeJS.Signals | null } {
  if (signal || code === null || code <= 128 || code > 128 + 64) return { code, signal };
  const name = Object.entries(osConstants.signals).find(([, n]) => n === code - 128)?.[0] as NodeJS.Signals | undefined;
  return name ? { code: null, signal: name } : { code, signal };
}
