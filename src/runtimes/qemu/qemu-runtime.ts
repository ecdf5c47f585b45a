// The qemu target: each instance is one qemu-system-x86_64 (or, for an arm64 kernel,
// qemu-system-aarch64 -M virt) process booting the artifact (a Linux kernel + initrd, or a
// bootable raw disk), the serial console in a file we follow,
// and a QMP socket through which stop() asks the guest to power down.
//
// Networking: a tap device and /30 of its own (tap-net.ts; the router reaches the guest's
// address directly, and a guest that does not listen yet refuses at once) where the host
// can make taps, else QEMU's user-mode network forwarding 127.0.0.1:<hostPort> to the guest
// port (restrict=on: the guest opens no connection of its own, so it cannot reach the host's
// loopback services through 10.0.2.2). Either way the guest learns its address as SUMMON_ADDR
// (CIDR) and SUMMON_GATEWAY on the kernel command line; config vars reach it only through
// the fw_cfg entry opt/summon/env, read from a 0600 file, never through QEMU's argv.
//
// Confined (a Confiner given; what `summon up` uses), QEMU runs as the app's own uid/gid with
// no capabilities, in a cgroup unit of its own ([run].memory + QEMU_MEMORY_OVERHEAD, a pids
// limit, [run].cpu), so a stop or a crash takes everything with it. It opens only what it is
// handed: the kernel, initrd or disk as /dev/fd/N (opened here; the blob store's directories
// stay out of its reach), its work dir (the app user's, 0700), a tap owned by that user.
//
//   start ─► launched (QMP answered) ─► stop(): system_powerdown ─► [graceMs] ─► quit ─► [quitMs] ─► SIGKILL
//                    └──────────── exits on its own (poweroff, panic, kill) ─► onExit
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, readFile, rm, symlink, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { InvalidInputError, RuntimeUnavailableError } from '../../core/errors.js';
import type { RuntimeCapability } from '../../core/types.js';
import type {
  ConsoleSink, InstanceSpec, InstanceStatus, Runtime, RuntimeHandle, UnhealthyStart,
} from '../runtime.js';
import { isSameProcess, readProcSample } from '../proc-stats.js';
import { HostProcessRuntime } from '../host-process-runtime.js';
import { forEachLine } from '../line-splitter.js';
import { AccelProbe, qemuVersion, type AccelResult } from './accel-probe.js';
import { ConsoleTail } from './console-tail.js';
import { detectImage } from './image-kind.js';
import { ARCHES, hostArch, type Arch, type ArchSupport } from '../../core/arch.js';
import { buildKernelCmdline, MAX_CMDLINE } from './kernel-cmdline.js';
import {
  buildQemuArgs, consoleDevice, CONSOLE_LOG, ENV_FILE, instanceTag, PID_FILE, QEMU_BINARIES, QEMU_PACKAGES, QMP_SOCKET, type Accel, type QemuNet,
} from './qemu-args.js';
import { assertConfigForRuntime } from '../../core/config-vars.js';
import { QmpClient } from './qmp.js';
import { TAP_NAME_RE, TapPool, type TapNetwork } from '../tap-net.js';
import { explainTapGuest } from '../tap-observe.js';
import { diagnoseUnreachable } from '../guest-diagnosis.js';
import type { Confiner } from '../../isolation/confine.js';
import type { CgroupUnit } from '../../isolation/cgroups.js';
import { vmmUser, type VmmUser } from '../vmm-user.js';

/** What a confined QEMU may use beyond the guest's [run].memory (its unit's limit is the sum):
 *  QEMU's own code, heap and devices, and under TCG the translation cache (capped at
 *  TCG_CODE_BUFFER_MIB). Measured on QEMU 7.2 (TCG): a 128 MiB vm-hello guest's QEMU used
 *  184–212 MiB in all after booting and serving 50 requests, the guest's own pages included. */
export const QEMU_MEMORY_OVERHEAD = 256 * 1024 * 1024;
/** TCG's translated-code buffer, confined: QEMU 7.2's default may grow to 1 GiB. */
export const TCG_CODE_BUFFER_MIB = 64;
/** Tasks a confined QEMU may have: its main loop, RCU and vCPU threads, and up to 64 I/O workers. */
export const QEMU_PIDS_LIMIT = 128;


export interface QemuRuntimeOptions {
  /** Instance records (for recover()) and the acceleration probe's cache live under <stateDir>/qemu. */
  stateDir: string;
  /** The x86_64 guests' QEMU (default qemu-system-x86_64). */
  qemuBinary?: string;
  /** Each architecture's QEMU (default QEMU_BINARIES; qemuBinary, when given, is x86_64's). */
  qemuBinaries?: Partial<Record<Arch, string>>;
  /** The host's own architecture, whose guests may run under KVM (default: this machine's). */
  hostArch?: Arch;
  /** auto: probe KVM once and fall back to TCG; kvm / tcg: use that without probing. */
  accel?: 'auto' | 'kvm' | 'tcg';
  /** Kernels the KVM probe may boot (default: /boot/vmlinuz-*, then the vm-hello build cache). */
  probeKernels?: string[];
  probeTimeoutMs?: number;
  /** stop() without graceMs waits this long after system_powerdown. */
  defaultGraceMs?: number;
  /** After `quit`, how long before SIGKILL. */
  quitTimeoutMs?: number;
  /** How long start() waits for QEMU to open its QMP socket. */
  launchTimeoutMs?: number;
  /** Tap devices and addresses, shared with the other VM runtimes of this host. */
  taps?: TapPool;
  /** auto (default): tap where the host can make taps and the artifact is a kernel, else user.
   *  An instance's [run].network overrides it. */
  network?: 'auto' | 'tap' | 'user';
  /** Where QEMU's user-mode network listens for the forwarded port (default 127.0.0.1). An
   *  agent whose instances a router on another host reaches sets 0.0.0.0; a tap guest is
   *  reachable only from its own host, so such an agent runs every VM on the user-mode network. */
  forwardAddress?: string;
  /** Runs each QEMU as its app's user, without capabilities, in a cgroup unit of its own. */
  confiner?: Confiner;
  /** Confined: the unit's memory limit is [run].memory plus this (default QEMU_MEMORY_OVERHEAD). */
  memoryOverheadBytes?: number;
}

interface Running {
  child: ChildProcess;
  status: InstanceStatus;
  exited: Promise<void>;
  qmp: QmpClient | undefined;
  qmpPath: string;
  stopping: boolean;
  unit?: CgroupUnit;
  /** Where the guest is: its tap, or the user-mode forward; for diagnose(). */
  net: { tap?: TapNetwork; guestPort: number; hostPort: number };
}

interface InstanceRecord {
  id: string;
  pid: number;
  startTicks: number | null;
  workDir: string;
  tag: string;
  tap?: string;
}

/** QEMU's user-mode network: the guest is 10.0.2.15/24 behind the gateway 10.0.2.2. */
const USER_NET = { cidr: '10.0.2.15/24', ip: '10.0.2.15', gateway: '10.0.2.2' };
const installHint = (arch: Arch) => `install it with \`apt-get install ${QEMU_PACKAGES[arch]}\``;

export class QemuRuntime extends HostProcessRuntime<Running> implements Runtime {
  readonly target = 'qemu' as const;
  private readonly stateDir: string;
  private readonly binaries: Record<Arch, string>;
  /** Guests of this architecture may use KVM; every other one is emulated (TCG). */
  private readonly nativeArch: Arch | undefined;
  private readonly accel: 'auto' | 'kvm' | 'tcg';
  private readonly probe: AccelProbe;
  private readonly defaultGraceMs: number;
  private readonly quitTimeoutMs: number;
  private readonly launchTimeoutMs: number;
  private readonly taps: TapPool;
  private readonly network: 'auto' | 'tap' | 'user';
  private readonly forwardAddress: string;
  private readonly confiner: Confiner | undefined;
  private readonly memoryOverheadBytes: number;
  private readonly versions = new Map<Arch, Promise<string | undefined>>();

  constructor(opts: QemuRuntimeOptions) {
    super();
    if (!opts?.stateDir) throw new Error('QemuRuntime: stateDir is required');
    const accel = opts.accel ?? 'auto';
    if (!['auto', 'kvm', 'tcg'].includes(accel)) {
      throw new Error(`QemuRuntime: accel must be "auto", "kvm" or "tcg", got ${JSON.stringify(accel)}`);
    }
    for (const k of ['defaultGraceMs', 'quitTimeoutMs', 'launchTimeoutMs', 'probeTimeoutMs', 'memoryOverheadBytes'] as const) {
      const v = opts[k];
      if (v !== undefined && !(Number.isFinite(v) && v >= 0)) throw new Error(`QemuRuntime: ${k} must be a number >= 0`);
    }
    this.stateDir = join(opts.stateDir, 'qemu');
    this.binaries = { ...QEMU_BINARIES, ...(opts.qemuBinary ? { x86_64: opts.qemuBinary } : {}), ...opts.qemuBinaries };
    this.nativeArch = opts.hostArch ?? hostArch();
    this.accel = accel;
    this.defaultGraceMs = opts.defaultGraceMs ?? 10_000;
    this.quitTimeoutMs = opts.quitTimeoutMs ?? 3000;
    this.launchTimeoutMs = opts.launchTimeoutMs ?? 10_000;
    this.taps = opts.taps ?? new TapPool();
    this.forwardAddress = opts.forwardAddress ?? '127.0.0.1';
    this.confiner = opts.confiner;
    this.memoryOverheadBytes = opts.memoryOverheadBytes ?? QEMU_MEMORY_OVERHEAD;
    this.network = opts.network ?? (this.forwardsElsewhere ? 'user' : 'auto');
    if (!['auto', 'tap', 'user'].includes(this.network)) {
      throw new Error(`QemuRuntime: network must be "auto", "tap" or "user", got ${JSON.stringify(opts.network)}`);
    }
    this.probe = new AccelProbe({
      stateDir: this.stateDir,
      // KVM runs guests of the host's own architecture: the probe boots one of those.
      qemuBinary: this.binaries[this.nativeArch ?? 'x86_64'],
      ...(this.nativeArch === 'aarch64' ? { arch: 'aarch64' as const } : {}),
      ...(opts.probeKernels ? { kernels: opts.probeKernels } : {}),
      ...(opts.probeTimeoutMs !== undefined ? { timeoutMs: opts.probeTimeoutMs } : {}),
    });
  }

  private qemuVersion(arch: Arch = this.nativeArch ?? 'x86_64'): Promise<string | undefined> {
    let v = this.versions.get(arch);
    if (!v) this.versions.set(arch, (v = qemuVersion(this.binaries[arch])));
    return v;
  }

  /** The acceleration decision for `arch`'s guests (default the host's own) with its reason;
   *  undefined when that QEMU is missing. Only the host's own architecture may use KVM. */
  async accelResult(arch: Arch = this.nativeArch ?? 'x86_64'): Promise<AccelResult | undefined> {
    const ver = await this.qemuVersion(arch);
    if (!ver) return undefined;
    if (arch !== this.nativeArch) {
      return {
        accel: 'tcg', kvm: false, qemuVersion: ver, kernel: null, probedAt: Date.now(), cached: false,
        reason: `kvm: no — ${arch} guests on a ${this.nativeArch ?? 'foreign'} host are emulated (tcg)`,
      };
    }
    if (this.accel === 'auto') return this.probe.result(ver);
    const forced = this.accel;
    return {
      accel: forced, kvm: forced === 'kvm', qemuVersion: ver, kernel: null, probedAt: Date.now(), cached: false,
      reason: forced === 'kvm' ? 'kvm: forced by configuration (accel=kvm, not probed)' : 'kvm: not used — tcg forced by configuration (accel=tcg)',
    };
  }

  /** Available when any architecture's QEMU runs; accel and kvm are the host's own
   *  architecture's (else the first one found), arches says how each one runs. */
  async capability(): Promise<RuntimeCapability> {
    const order = [...(this.nativeArch ? [this.nativeArch] : []), ...ARCHES.filter((a) => a !== this.nativeArch)];
    const found = (await Promise.all(order.map(async (arch) => ({ arch, r: await this.accelResult(arch) }))));
    const ok = found.filter((f): f is { arch: Arch; r: AccelResult } => f.r !== undefined);
    const missing = found.filter((f) => !f.r).map((f) => `${this.binaries[f.arch]} (${f.arch}) not found or not runnable: ${installHint(f.arch)}`);
    if (ok.length === 0) return { target: 'qemu', available: false, reason: missing.join('; ') };
    const first = ok[0].r;
    const arches: ArchSupport[] = ok.map((f) => ({ arch: f.arch, native: f.r.accel === 'kvm' }));
    const each = ok.map((f) => `${f.arch}: qemu ${f.r.qemuVersion}, ${f.r.reason}`);
    return {
      target: 'qemu', available: true, accel: first.accel, kvm: first.kvm, arches,
      reason: [...each, ...missing, await this.networkReason()].join('; '),
    };
  }

  /** The forwarded port is for a router on another host. */
  private get forwardsElsewhere(): boolean {
    return this.forwardAddress !== '127.0.0.1';
  }

  private async networkReason(): Promise<string> {
    if (this.forwardsElsewhere) return `network: user-mode, forwarded on ${this.forwardAddress} for a router on another host`;
    if (this.network === 'user') return 'network: user-mode (configured)';
    const taps = await this.taps.capability();
    if (taps.ok) return `network: ${taps.reason}`;
    return `network: user-mode, no taps (${taps.reason})`;
  }

  /** The network an instance gets: its own [run].network, else this host's policy. */
  private async chooseNetwork(spec: InstanceSpec, kind: 'kernel' | 'disk'): Promise<'tap' | 'user'> {
    const wanted = spec.network ?? (this.network === 'auto' ? undefined : this.network);
    if (wanted === 'tap' && this.forwardsElsewhere) {
      throw new RuntimeUnavailableError('qemu', 'a tap guest is reachable only from its own host, and this host\'s instances are reached by a router elsewhere: use [run].network = "user" (or leave it out)');
    }
    if (wanted === 'user' || this.forwardsElsewhere) return 'user';
    const taps = await this.taps.capability();
    if (wanted === 'tap') {
      if (!taps.ok) throw new RuntimeUnavailableError('qemu', `[run].network = "tap" needs tap devices, and this host cannot make them: ${taps.reason}`);
      return 'tap';
    }
    // A disk boots with its own boot loader's command line; only a guest that reads fw_cfg
    // would learn a tap address, so disks keep the user-mode network unless asked.
    return taps.ok && kind === 'kernel' ? 'tap' : 'user';
  }

  async start(spec: InstanceSpec, sink: ConsoleSink): Promise<RuntimeHandle> {
    await this.claim(spec.id);
    // No QEMU at all: say so (and how to install it) before anything else.
    if ((await Promise.all(ARCHES.map((a) => this.qemuVersion(a)))).every((v) => !v)) {
      throw new RuntimeUnavailableError('qemu', ARCHES.map((a) => `${this.binaries[a]} not found: ${installHint(a)}`).join('; '));
    }
    const { kind, arch } = await detectImage(spec.artifactPath);
    if (kind === 'disk' && arch !== 'x86_64') throw new InvalidInputError(`a ${arch} disk image needs UEFI firmware, which the qemu runtime does not boot: make the artifact the kernel`);
    const accel = await this.accelResult(arch);
    if (!accel) throw new RuntimeUnavailableError('qemu', `${this.binaries[arch]} not found, so this host cannot run ${arch} guests: ${installHint(arch)}`);
    const mode = await this.chooseNetwork(spec, kind);
    const user = this.confiner ? await vmmUser(this.confiner, spec.app) : undefined;
    let use = accel.accel as Accel;
    if (user && use === 'kvm' && !user.kvm) {
      // The probe ran as root; the app's user reaches /dev/kvm only through its group.
      use = 'tcg';
      sink('summon: /dev/kvm is not open to the app\'s user (give it a group other than root, mode 0660): running under TCG', 'stderr');
    }
    const tap = mode === 'tap' ? await this.acquireTap(user) : undefined;
    try {
      return await this.launch(spec, sink, use, kind, tap, user, arch);
    } catch (e) {
      if (tap) await this.taps.release(tap);
      throw e;
    }
  }

  private async acquireTap(user: VmmUser | undefined): Promise<TapNetwork> {
    try {
      return await this.taps.acquire(user ? { uid: user.uid, gid: user.gid } : undefined);
    } catch (e) {
      throw new RuntimeUnavailableError('qemu', (e as Error).message);
    }
  }

  private async launch(spec: InstanceSpec, sink: ConsoleSink, accel: Accel, kind: 'kernel' | 'disk', tap: TapNetwork | undefined, user: VmmUser | undefined, arch: Arch = 'x86_64'): Promise<RuntimeHandle> {
    const qemuBinary = this.binaries[arch];
    const guestPort = String(spec.guestPort);
    const addr = tap ? { cidr: `${tap.guestAddress}/${tap.prefix}`, ip: tap.guestAddress, gateway: tap.hostAddress } : USER_NET;
    // Checked when set (core/config-vars.ts), and again here: a var stored before the rules,
    // or a config from elsewhere, stops this start with the reason instead of reaching the guest.
    assertConfigForRuntime(spec.env, 'vm', 'qemu');
    // What is not secret goes on the command line, where every guest finds it; config vars
    // go only to the fw_cfg file (ENV_FILE): never in QEMU's argv, which `ps` shows everyone.
    const own: Record<string, string> = {
      PORT: guestPort,
      SUMMON_ADDR: addr.cidr,
      SUMMON_GATEWAY: addr.gateway,
      SUMMON_APP: spec.app,
      SUMMON_RELEASE: `v${spec.version}`,
      SUMMON_INSTANCE: spec.id,
    };
    const guestEnv = envFileText({ ...spec.env, ...own });
    let cmdline = buildKernelCmdline({ base: [`console=${consoleDevice(arch)}`, 'panic=1'], extra: spec.cmdline, env: own });
    if (spec.args.length > 0) {
      // Words after "--" become init's argv; they obey the same quoting limits as values.
      const words = spec.args.map((a) =>
        a.replaceAll('{port}', guestPort).replaceAll('{ip}', addr.ip).replaceAll('{gateway}', addr.gateway));
      for (const w of words) {
        if (!/^[!#-&(-[\]-~]+$/.test(w)) {
          throw new InvalidInputError(
            `[run].args word ${JSON.stringify(w)} cannot be passed on a kernel command line: no spaces, quotes or backslashes`,
          );
        }
      }
      cmdline = `${cmdline} -- ${words.join(' ')}`;
      if (cmdline.length > MAX_CMDLINE) {
        throw new InvalidInputError(`the kernel command line would be ${cmdline.length} bytes, more than Linux accepts (${MAX_CMDLINE}): shorten [run].args`);
      }
    }
    const net: QemuNet = tap
      ? { kind: 'tap', tap: tap.tap, mac: tap.mac }
      : { kind: 'user', hostPort: spec.hostPort, guestPort: spec.guestPort, forwardAddress: this.forwardAddress };
    await mkdir(this.stateDir, { recursive: true });
    await Promise.all([CONSOLE_LOG, QMP_SOCKET, PID_FILE, ENV_FILE].map((f) => rm(join(spec.workDir, f), { force: true })));
    // 0600 and created afresh (the mode applies on creation); QEMU reads it while parsing its
    // options and it is removed once QMP answers, so the secrets do not stay on disk.
    const envPath = join(spec.workDir, ENV_FILE);
    await writeFile(envPath, guestEnv, { mode: 0o600, flag: 'wx' });
    const qmpPath = await reachableSocketPath(spec.workDir, QMP_SOCKET);

    // Confined, QEMU gets the blobs as open files (fd 3, 4): the app's user may read a blob
    // (0555) but not walk Summon's 0700 DATA directory to it.
    const handed: FileHandle[] = [];
    let unit: CgroupUnit | undefined;
    let child: ChildProcess;
    try {
      const blob = async (path: string): Promise<string> => {
        handed.push(await open(path, 'r'));
        return `/dev/fd/${2 + handed.length}`;
      };
      const artifactPath = user ? await blob(spec.artifactPath) : spec.artifactPath;
      const initrdPath = spec.initrdPath ? (user ? await blob(spec.initrdPath) : spec.initrdPath) : undefined;
      const args = buildQemuArgs({
        id: spec.id, accel, kind, artifactPath, ...(initrdPath ? { initrdPath } : {}),
        cmdline, memoryBytes: spec.memoryBytes, net, envFile: ENV_FILE, arch,
        ...(user ? { tcgCodeBufferMiB: TCG_CODE_BUFFER_MIB, noPidFile: true } : {}),
      });
      const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8' };
      const opts = {
        cwd: spec.workDir,
        env,
        detached: true, // Ctrl-C on Summon's terminal must not take the VMs down with it; recover() cleans up
        stdio: ['ignore', 'pipe', 'pipe', ...handed.map((h) => h.fd)] as ('ignore' | 'pipe' | number)[],
      };
      if (user) {
        unit = await this.confiner!.cgroups.unit(spec.id, {
          memoryBytes: spec.memoryBytes + this.memoryOverheadBytes, pids: QEMU_PIDS_LIMIT, ...(spec.cpu !== undefined ? { cpu: spec.cpu } : {}),
        });
        // The work dir (QMP socket, console, the env file) becomes the app user's, 0700.
        await this.confiner!.own(spec.workDir, user.uid);
        const c = this.confiner!.asUser(unit, user, [qemuBinary, ...args]);
        child = spawn(c.file, c.args, opts);
      } else {
        child = spawn(qemuBinary, args, opts);
      }
    } catch (e) {
      await Promise.all(handed.map((h) => h.close()));
      await rm(envPath, { force: true });
      await unit?.remove().catch(() => undefined);
      throw e;
    }
    const closeHanded = () => void Promise.all(handed.map((h) => h.close())).catch(() => undefined);
    child.once('spawn', closeHanded);
    child.once('error', closeHanded);
    const status: InstanceStatus = { running: true, pid: child.pid ?? null, exitCode: null, signal: null };
    let resolveExit!: () => void;
    const exited = new Promise<void>((r) => (resolveExit = r));
    const r: Running = {
      child, status, exited, qmp: undefined, qmpPath, stopping: false, ...(unit ? { unit } : {}),
      net: { ...(tap ? { tap } : {}), guestPort: spec.guestPort, hostPort: spec.hostPort },
    };
    this.running.set(spec.id, r);

    const stderrTail: string[] = [];
    forEachLine(child.stdout!, (l) => sink(l, 'stdout'));
    forEachLine(child.stderr!, (l) => {
      stderrTail.push(l);
      if (stderrTail.length > 20) stderrTail.shift();
      sink(l, 'stderr');
    });
    const tail = new ConsoleTail(join(spec.workDir, CONSOLE_LOG), (l) => sink(l, 'console'));
    tail.start();

    const spawnError = this.spawned(child);
    child.once('exit', (code, signal) => {
      void (async () => {
        if (unit) {
          // The kernel says whether QEMU ran out of its unit's memory; nothing it left stays.
          if (await unit.oomKilled()) status.oomKilled = true;
          await unit.remove().catch(() => undefined);
        }
        this.exitedWith(spec.id, status, code, signal);
        r.qmp?.close();
        await tail.stop(); // the last console lines arrive before listeners hear of the exit
        if (tap) await this.taps.release(tap);
        await rm(join(this.stateDir, `${spec.id}.json`), { force: true });
        if (qmpPath !== join(spec.workDir, QMP_SOCKET)) await rm(join(qmpPath, '..'), { force: true });
        resolveExit();
        this.notifyExit(spec.id, status);
      })();
    });

    const err = await spawnError;
    if (err) {
      this.running.delete(spec.id);
      await rm(envPath, { force: true });
      await unit?.remove().catch(() => undefined);
      await tail.stop();
      throw new RuntimeUnavailableError('qemu', `could not run ${qemuBinary}: ${err.message}; ${installHint(arch)}`);
    }
    const sample = await readProcSample(child.pid!);
    const record: InstanceRecord = {
      id: spec.id, pid: child.pid!, startTicks: sample?.startTicks ?? null, workDir: spec.workDir, tag: instanceTag(spec.id),
      ...(tap ? { tap: tap.tap } : {}),
    };
    await writeFile(join(this.stateDir, `${spec.id}.json`), JSON.stringify(record));

    // Launched means QEMU parsed its options and opened QMP; a bad option or a host port
    // already taken makes it exit first, and start() reports QEMU's own words.
    const giveUp = new AbortController();
    void exited.then(() => giveUp.abort('qemu exited'));
    const launched = await Promise.race([
      QmpClient.connect(qmpPath, { timeoutMs: this.launchTimeoutMs, signal: giveUp.signal }).then((q) => q, (e: Error) => e),
      exited.then(() => null),
    ]);
    await rm(envPath, { force: true });
    if (launched instanceof QmpClient) {
      if (!status.running) launched.close();
      else r.qmp = launched;
    }
    if (!status.running || !(launched instanceof QmpClient)) {
      if (status.running) {
        kill(child.pid!, 'SIGKILL');
      }
      await exited;
      this.running.delete(spec.id);
      const mib = (b: number) => Math.round(b / (1024 * 1024));
      const why = status.oomKilled
        ? `out of memory: killed at its unit's limit of ${mib(spec.memoryBytes + this.memoryOverheadBytes)} MiB ([run].memory ${mib(spec.memoryBytes)} MiB + ${mib(this.memoryOverheadBytes)} MiB for QEMU)`
        : stderrTail.filter((l) => l.trim()).slice(-3).join(' / ') ||
          (launched instanceof Error ? launched.message : `exit ${status.signal ?? status.exitCode}`);
      throw new RuntimeUnavailableError('qemu', `qemu exited while starting ${spec.id}: ${why}`);
    }
    return tap
      ? { pid: child.pid ?? null, address: tap.guestAddress, port: spec.guestPort, unanswered: 'dropped' }
      : { pid: child.pid ?? null, address: '127.0.0.1', port: spec.hostPort, unanswered: 'held' };
  }

  /** A guest that never answered: on a tap, its DHCP exchange, ARP and port; the fixes. */
  async diagnose(id: string, seen: UnhealthyStart): Promise<string | undefined> {
    const r = this.running.get(id);
    if (!r) return undefined;
    if (r.net.tap) return explainTapGuest(this.taps, r.net.tap, r.net.guestPort, seen);
    return diagnoseUnreachable({
      network: 'user', address: USER_NET.ip, gateway: USER_NET.gateway, prefix: 24, port: r.net.guestPort, hostPort: r.net.hostPort,
      lastCheck: seen.lastCheck, consoleTail: seen.consoleTail,
    });
  }

  async stop(id: string, opts: { graceMs?: number } = {}): Promise<void> {
    const r = this.running.get(id);
    if (!r) return;
    if (r.status.running && !r.stopping) {
      r.stopping = true;
      const grace = opts.graceMs ?? this.defaultGraceMs;
      const exitedWithin = (ms: number): Promise<boolean> =>
        Promise.race([r.exited.then(() => true), new Promise<boolean>((res) => setTimeout(() => res(false), ms).unref())]);
      const qmp = await this.qmpFor(r);
      let done = false;
      if (qmp) {
        await qmp.execute('system_powerdown', undefined, 1000).catch(() => {});
        done = await exitedWithin(grace);
        if (!done) {
          await qmp.execute('quit', undefined, 1000).catch(() => {});
          done = await exitedWithin(this.quitTimeoutMs);
        }
      }
      if (!done) kill(r.child.pid!, 'SIGKILL');
    }
    await r.exited;
    this.running.delete(id);
  }

  private async qmpFor(r: Running): Promise<QmpClient | undefined> {
    if (r.qmp && !r.qmp.isClosed) return r.qmp;
    try {
      r.qmp = await QmpClient.connect(r.qmpPath, { timeoutMs: 2000 });
      return r.qmp;
    } catch {
      return undefined;
    }
  }


  async recover(stateDir?: string): Promise<string[]> {
    const dir = stateDir ? join(stateDir, 'qemu') : this.stateDir;
    const stopped: string[] = [];
    let files: string[];
    try {
      files = await readdir(dir);
    } catch {
      return stopped;
    }
    for (const f of files.filter((x) => x.endsWith('.json') && x !== 'accel-probe.json')) {
      const path = join(dir, f);
      try {
        const rec = JSON.parse(await readFile(path, 'utf8')) as InstanceRecord;
        if (await isLeftoverQemu(rec)) {
          kill(rec.pid, 'SIGKILL');
          stopped.push(rec.id);
        }
        if (rec.tap && TAP_NAME_RE.test(rec.tap)) await this.taps.release({ tap: rec.tap });
      } catch {
        // A record we cannot read names no process we could safely kill.
      }
      await rm(path, { force: true });
    }
    return stopped;
  }
}

/** The recorded pid is still the QEMU we started: same start time, a qemu binary, our -name tag. */
async function isLeftoverQemu(rec: InstanceRecord): Promise<boolean> {
  if (!Number.isInteger(rec.pid) || rec.pid <= 1 || rec.startTicks === null) return false;
  if (!(await isSameProcess(rec.pid, rec.startTicks))) return false;
  let argv: string[];
  try {
    argv = (await readFile(`/proc/${rec.pid}/cmdline`, 'utf8')).split('\0');
  } catch {
    return false;
  }
  const nameAt = argv.indexOf('-name');
  return basename(argv[0] ?? '').includes('qemu') && nameAt >= 0 && argv[nameAt + 1] === rec.tag;
}

/**
 * The guest's side of opt/summon/env: one KEY=VALUE per line, LF-terminated, UTF-8. The
 * VM rules guarantee no name or value holds a newline, "=" in a name, or a control character.
 */
export function envFileText(env: Record<string, string>): string {
  return Object.entries(env).map(([k, v]) => `${k}=${v}\n`).join('');
}

/**
 * A path Node can connect() to for `<dir>/<name>`: unix socket paths are limited to 107
 * bytes, so a deep workDir is reached through a short symlink in the temp directory.
 */
async function reachableSocketPath(dir: string, name: string): Promise<string> {
  const direct = join(dir, name);
  if (Buffer.byteLength(direct) <= 100) return direct;
  const link = join(tmpdir(), `summon-q-${createHash('sha256').update(dir).digest('hex').slice(0, 16)}`);
  await rm(link, { force: true });
  await symlink(dir, link);
  return join(link, name);
}

function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}
