// The solo5 targets: a MirageOS-style unikernel run by a solo5 tender, `solo5-hvt`
// (a minimal KVM monitor) or `solo5-spt` (a seccomp-sandboxed process). Debian ships no
// solo5 package, so the tenders are looked up on PATH (or given explicitly) and the
// capability says how to get them when they are missing.
//
// Networking: each instance gets its own tap device and a /30 (tap-net.ts): the host side is
// .1, the unikernel .2. The router connects to the unikernel's address and guest port directly.
//
// Confined (a Confiner given), the tender runs as the app's own uid/gid with no capabilities,
// in a cgroup unit ([run].memory + SOLO5_MEMORY_OVERHEAD, a pids limit, [run].cpu), with the
// unikernel handed to it as /dev/fd/3 and a tap owned by that user; hvt gets /dev/kvm's group.
import { spawn, type ChildProcess } from 'node:child_process';
import { access, constants, mkdir, open, readdir, readFile, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { RuntimeUnavailableError } from '../../core/errors.js';
import { assertConfigForRuntime } from '../../core/config-vars.js';
import { hostArch } from '../../core/arch.js';
import type { RuntimeCapability } from '../../core/types.js';
import type {
  ConsoleSink, InstanceSpec, InstanceStatus, Runtime, RuntimeHandle, UnhealthyStart,
} from '../runtime.js';
import { isSameProcess, readProcSample } from '../proc-stats.js';
import { HostProcessRuntime } from '../host-process-runtime.js';
import { forEachLine } from '../line-splitter.js';
import { TAP_NAME_RE, TapPool, type IpRunner, type TapNetwork } from '../tap-net.js';
import { explainTapGuest } from '../tap-observe.js';
import type { Confiner } from '../../isolation/confine.js';
import type { CgroupUnit } from '../../isolation/cgroups.js';
import { vmmUser } from '../vmm-user.js';

/** What a confined tender may use beyond the unikernel's [run].memory: the tender itself is
 *  one small process that maps the guest's memory, so a few MiB would do; this leaves room. */
export const SOLO5_MEMORY_OVERHEAD = 64 * 1024 * 1024;
/** Tasks a confined tender may have (it is single-threaded). */
export const SOLO5_PIDS_LIMIT = 16;

export type Solo5Target = 'solo5-hvt' | 'solo5-spt';

export interface Solo5RuntimeOptions {
  target: Solo5Target;
  stateDir: string;
  /** The tender binary; default: `solo5-hvt` / `solo5-spt` found on searchPath. */
  tenderPath?: string;
  /** Where to look for the tender (default: $PATH plus /usr/local/bin and /opt/solo5/bin). */
  searchPath?: string;
  /** Tap devices and addresses, shared with the other VM runtimes of this host. */
  taps?: TapPool;
  /** Without `taps`: the /16 from which each instance gets a /30 (default 10.201.0.0). */
  subnetBase?: string;
  kvmDevice?: string;
  defaultGraceMs?: number;
  /** Without `taps`: runs `ip` (tests substitute a recorder). */
  ip?: IpRunner;
  /** Runs each tender as its app's user, without capabilities, in a cgroup unit of its own. */
  confiner?: Confiner;
}

const INSTALL_HINT =
  'Debian has no solo5 package: build solo5 from source (or `opam install solo5`) and put solo5-hvt / solo5-spt ' +
  'on PATH of the Summon process, then restart `summon up`';

/** The block device config vars reach a solo5 unikernel through, never argv. */
export const SOLO5_ENV_DEVICE = 'summon_env';

/**
 * What the `summon_env` block device holds: `KEY=VALUE` lines (UTF-8), padded with NUL bytes
 * to whole 512-byte sectors (solo5's block size); the unikernel reads up to the first NUL.
 */
export function solo5EnvImage(env: Record<string, string>): Buffer {
  const text = Buffer.from(Object.entries(env).map(([k, v]) => `${k}=${v}\n`).join(''), 'utf8');
  const out = Buffer.alloc(Math.max(512, Math.ceil(text.length / 512) * 512));
  text.copy(out);
  return out;
}

/**
 * The tender's argv. Config vars are not in it (argv is readable by every user in /proc):
 * with any set, `envImage` (a 0600 file, solo5EnvImage) is attached as the block device
 * `summon_env`, which the unikernel declares in its manifest to read them. `{port}`, `{ip}` and
 * `{gateway}` are substituted in [run].args; without an explicit `{ip}` the MirageOS network
 * arguments are added.
 */
export function buildTenderArgs(spec: InstanceSpec, net: TapNetwork, envImage?: string): string[] {
  const memMiB = Math.max(2, Math.floor(spec.memoryBytes / (1024 * 1024)));
  const subst = (a: string): string =>
    a.replaceAll('{port}', String(spec.guestPort)).replaceAll('{ip}', net.guestAddress).replaceAll('{gateway}', net.hostAddress);
  assertConfigForRuntime(spec.env, 'vm', spec.target);
  const hasEnv = Object.keys(spec.env).length > 0;
  if (hasEnv && !envImage) throw new Error('buildTenderArgs: config vars need their block device image');
  const args = [`--mem=${memMiB}`, `--net:service=${net.tap}`, ...(hasEnv ? [`--block:${SOLO5_ENV_DEVICE}=${envImage}`] : []), '--', spec.artifactPath];
  const user = spec.args.map(subst);
  if (!spec.args.some((a) => a.includes('{ip}'))) {
    args.push(`--ipv4=${net.guestAddress}/${net.prefix}`, `--ipv4-gateway=${net.hostAddress}`);
  }
  args.push(...user);
  return args;
}

/** Finds an executable `name` on a PATH-style list. */
export async function findOnPath(name: string, searchPath: string): Promise<string | undefined> {
  for (const dir of searchPath.split(delimiter).filter(Boolean)) {
    const p = join(dir, name);
    try {
      await access(p, constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return undefined;
}

interface Running {
  child: ChildProcess;
  status: InstanceStatus;
  exited: Promise<void>;
  unit?: CgroupUnit;
  net: TapNetwork;
  guestPort: number;
}

export class Solo5Runtime extends HostProcessRuntime<Running> implements Runtime {
  readonly target: Solo5Target;
  private readonly stateDir: string;
  private readonly tenderPath: string | undefined;
  private readonly searchPath: string;
  private readonly taps: TapPool;
  private readonly kvmDevice: string;
  private readonly defaultGraceMs: number;
  private readonly confiner: Confiner | undefined;

  constructor(opts: Solo5RuntimeOptions) {
    super();
    if (opts?.target !== 'solo5-hvt' && opts?.target !== 'solo5-spt') {
      throw new Error(`Solo5Runtime: target must be "solo5-hvt" or "solo5-spt", got ${JSON.stringify(opts?.target)}`);
    }
    if (!opts.stateDir) throw new Error('Solo5Runtime: stateDir is required');
    this.target = opts.target;
    this.stateDir = join(opts.stateDir, opts.target);
    this.tenderPath = opts.tenderPath;
    this.searchPath = opts.searchPath ?? [process.env.PATH ?? '', '/usr/local/bin', '/opt/solo5/bin'].join(delimiter);
    this.taps = opts.taps ?? new TapPool({ ...(opts.subnetBase ? { subnetBase: opts.subnetBase } : {}), ...(opts.ip ? { ip: opts.ip } : {}) });
    this.kvmDevice = opts.kvmDevice ?? '/dev/kvm';
    this.defaultGraceMs = opts.defaultGraceMs ?? 10_000;
    this.confiner = opts.confiner;
  }

  private async tender(): Promise<string | undefined> {
    if (this.tenderPath) {
      try {
        await access(this.tenderPath, constants.X_OK);
        return this.tenderPath;
      } catch {
        return undefined;
      }
    }
    return findOnPath(this.target, this.searchPath);
  }

  async capability(): Promise<RuntimeCapability> {
    const tender = await this.tender();
    if (!tender) {
      return { target: this.target, available: false, reason: `${this.tenderPath ?? this.target} not found. ${INSTALL_HINT}` };
    }
    const taps = await this.taps.capability();
    if (!taps.ok) {
      return { target: this.target, available: false, reason: `${tender} found, but solo5 networking needs tap devices: ${taps.reason}` };
    }
    if (this.target === 'solo5-hvt') {
      try {
        await access(this.kvmDevice, constants.R_OK | constants.W_OK);
      } catch {
        return {
          target: this.target, available: false, kvm: false,
          reason: `${tender} found, but solo5-hvt needs KVM and ${this.kvmDevice} is missing or not accessible; use solo5-spt`,
        };
      }
      return { target: this.target, available: true, kvm: true, ...this.arches(), reason: `${tender} (hvt: KVM via ${this.kvmDevice})` };
    }
    return { target: this.target, available: true, ...this.arches(), reason: `${tender} (spt: seccomp sandbox, no KVM needed)` };
  }

  /** A tender runs unikernels built for the host's own architecture, natively. */
  private arches(): Pick<RuntimeCapability, 'arches'> {
    const arch = hostArch();
    return arch ? { arches: [{ arch, native: true }] } : {};
  }

  async start(spec: InstanceSpec, sink: ConsoleSink): Promise<RuntimeHandle> {
    await this.claim(spec.id);
    const cap = await this.capability();
    if (!cap.available) throw new RuntimeUnavailableError(this.target, cap.reason);
    const tender = (await this.tender())!;
    await mkdir(this.stateDir, { recursive: true });
    const user = this.confiner ? await vmmUser(this.confiner, spec.app, this.kvmDevice) : undefined;
    if (user && this.target === 'solo5-hvt' && !user.kvm) {
      throw new RuntimeUnavailableError(this.target, `the app's user cannot open ${this.kvmDevice} (it needs a group other than root with read and write, e.g. kvm 0660); use solo5-spt`);
    }
    let net: TapNetwork;
    try {
      net = await this.taps.acquire(user ? { uid: user.uid, gid: user.gid } : undefined);
    } catch (e) {
      throw new RuntimeUnavailableError(this.target, (e as Error).message);
    }
    let unit: CgroupUnit | undefined;
    let child: ChildProcess;
    let artifact: FileHandle | undefined;
    try {
      // Confined, the unikernel is handed over open: the blob store's 0700 parents stay closed to the app's user.
      if (user) artifact = await open(spec.artifactPath, 'r');
      // Config vars as the summon_env block device: a 0600 file of the instance's (the app
      // user's once the work dir is made its own below).
      const envImage = join(spec.workDir, 'summon-env.img');
      if (Object.keys(spec.env).length > 0) await writeFile(envImage, solo5EnvImage(spec.env), { mode: 0o600 });
      const args = buildTenderArgs(user ? { ...spec, artifactPath: '/dev/fd/3' } : spec, net, envImage);
      const opts = {
        cwd: spec.workDir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, detached: true,
        stdio: ['ignore', 'pipe', 'pipe', ...(artifact ? [artifact.fd] : [])] as ('ignore' | 'pipe' | number)[],
      };
      if (user) {
        unit = await this.confiner!.cgroups.unit(spec.id, {
          memoryBytes: spec.memoryBytes + SOLO5_MEMORY_OVERHEAD, pids: SOLO5_PIDS_LIMIT, ...(spec.cpu !== undefined ? { cpu: spec.cpu } : {}),
        });
        await this.confiner!.own(spec.workDir, user.uid);
        const groups = this.target === 'solo5-hvt' ? user.groups : [];
        const c = this.confiner!.asUser(unit, { uid: user.uid, gid: user.gid, groups }, [tender, ...args]);
        child = spawn(c.file, c.args, opts);
      } else {
        child = spawn(tender, args, opts);
      }
    } catch (e) {
      await artifact?.close();
      await unit?.remove().catch(() => undefined);
      await this.taps.release(net);
      throw e;
    }
    const closeArtifact = () => void artifact?.close().catch(() => undefined);
    child.once('spawn', closeArtifact);
    child.once('error', closeArtifact);
    const status: InstanceStatus = { running: true, pid: child.pid ?? null, exitCode: null, signal: null };
    let resolveExit!: () => void;
    const exited = new Promise<void>((r) => (resolveExit = r));
    this.running.set(spec.id, { child, status, exited, ...(unit ? { unit } : {}), net, guestPort: spec.guestPort });
    // The unikernel's console is the tender's stdout.
    forEachLine(child.stdout!, (l) => sink(l, 'console'));
    forEachLine(child.stderr!, (l) => sink(l, 'stderr'));
    const spawnError = this.spawned(child);
    child.once('exit', (code, signal) => {
      void (async () => {
        if (unit) {
          if (await unit.oomKilled()) status.oomKilled = true;
          await unit.remove().catch(() => undefined);
        }
        this.exitedWith(spec.id, status, code, signal);
        await this.taps.release(net);
        await rm(join(this.stateDir, `${spec.id}.json`), { force: true });
        resolveExit();
        this.notifyExit(spec.id, status);
      })();
    });
    const err = await spawnError;
    if (err) {
      this.running.delete(spec.id);
      await unit?.remove().catch(() => undefined);
      await this.taps.release(net);
      throw new RuntimeUnavailableError(this.target, `could not run ${tender}: ${err.message}`);
    }
    const sample = await readProcSample(child.pid!);
    await writeFile(join(this.stateDir, `${spec.id}.json`), JSON.stringify({
      id: spec.id, pid: child.pid, startTicks: sample?.startTicks ?? null, tap: net.tap, tender,
    }));
    return { pid: child.pid ?? null, address: net.guestAddress, port: spec.guestPort, unanswered: 'dropped' };
  }

  /** A unikernel on its tap that never answered: its DHCP exchange, ARP and port, and the fixes. */
  async diagnose(id: string, seen: UnhealthyStart): Promise<string | undefined> {
    const r = this.running.get(id);
    return r ? explainTapGuest(this.taps, r.net, r.guestPort, seen) : undefined;
  }

  async stop(id: string, opts: { graceMs?: number } = {}): Promise<void> {
    const r = this.running.get(id);
    if (!r) return;
    if (r.status.running && r.child.pid) {
      // Tenders exit on SIGTERM; unikernels have no shutdown hook to wait for.
      signal(r.child.pid, 'SIGTERM');
      const timer = setTimeout(() => signal(r.child.pid!, 'SIGKILL'), opts.graceMs ?? this.defaultGraceMs);
      await r.exited;
      clearTimeout(timer);
    }
    await r.exited;
    this.running.delete(id);
  }


  async recover(stateDir?: string): Promise<string[]> {
    const dir = stateDir ? join(stateDir, this.target) : this.stateDir;
    const stopped: string[] = [];
    let files: string[];
    try {
      files = await readdir(dir);
    } catch {
      return stopped;
    }
    for (const f of files.filter((x) => x.endsWith('.json'))) {
      const path = join(dir, f);
      try {
        const rec = JSON.parse(await readFile(path, 'utf8')) as { id: string; pid: number; startTicks: number | null; tap: string; tender: string };
        if (rec.startTicks !== null && (await isSameProcess(rec.pid, rec.startTicks))) {
          // argv[1] when the tender is a script run by its interpreter.
          const argv = (await readFile(`/proc/${rec.pid}/cmdline`, 'utf8')).split('\0');
          if (argv[0] === rec.tender || argv[1] === rec.tender) {
            signal(rec.pid, 'SIGKILL');
            stopped.push(rec.id);
          }
        }
        if (TAP_NAME_RE.test(rec.tap)) await this.taps.release({ tap: rec.tap });
      } catch {
        // A record we cannot read names nothing we could safely kill.
      }
      await rm(path, { force: true });
    }
    return stopped;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}
