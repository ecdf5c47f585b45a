// Whether KVM really works here is found out, not assumed: /dev/kvm can exist and still be
// unusable (a paravirtual nested KVM under which guests crash or hang). Once per host and
// QEMU version we boot a kernel under KVM with a short deadline and require it to reach
// the end of its own initialisation; the answer is cached in stateDir.
import { execFile, spawn } from 'node:child_process';
import { access, constants, mkdir, readFile, readdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { accelArgs, consoleDevice, machineArgs, SANDBOX, type Accel } from './qemu-args.js';
import type { Arch } from '../../core/arch.js';

export interface AccelResult {
  accel: Accel;
  kvm: boolean;
  reason: string;
  qemuVersion: string;
  kernel: string | null;
  probedAt: number;
  /** True when this answer came from the cache file rather than a probe just now. */
  cached: boolean;
}

export interface AccelProbeOptions {
  /** The cache file lives here (accel-probe.json). */
  stateDir: string;
  qemuBinary: string;
  /** Kernels to boot for the probe, first existing one wins. Default: defaultProbeKernels(). */
  kernels?: string[];
  /** How long the probe guest has to reach the end of kernel init. */
  timeoutMs?: number;
  kvmDevice?: string;
  /** The architecture of qemuBinary's guests, the host's own (default x86_64). */
  arch?: Arch;
}

const CACHE_FILE = 'accel-probe.json';
// Lines a kernel prints once it has finished initialising (with no root fs it panics,
// which proves just as well that the virtual CPU ran it).
const BOOTED_RE = /Kernel panic|Run \/init|Freeing unused kernel/;

/** Where a kernel for the probe may be found on a Summon host. */
export async function defaultProbeKernels(env: NodeJS.ProcessEnv = process.env): Promise<string[]> {
  const dirs = ['/boot'];
  if (env.SUMMON_VM_CACHE) dirs.push(join(env.SUMMON_VM_CACHE, 'kernel', 'boot'));
  dirs.push('/var/cache/summon-vm-hello/kernel/boot');
  if (env.HOME) dirs.push(join(env.HOME, '.cache', 'summon-vm-hello', 'kernel', 'boot'));
  // On an arm64 host, /boot and vm-hello-arm64's cache hold arm64 kernels.
  if (process.arch === 'arm64') dirs.push('/var/cache/summon-vm-hello-arm64/kernel/boot');
  const out: string[] = [];
  for (const d of dirs) {
    try {
      for (const f of (await readdir(d)).sort().reverse()) if (f.startsWith('vmlinuz-')) out.push(join(d, f));
    } catch {
      // no such directory
    }
  }
  return out;
}

/** "7.2.22" from `qemu-system-x86_64 --version`; undefined when the binary cannot run. */
export function qemuVersion(binary: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(binary, ['--version'], { timeout: 10_000 }, (err, stdout) => {
      if (err) return resolve(undefined);
      const m = /version\s+(\S+)/.exec(stdout);
      resolve(m ? m[1] : stdout.split('\n')[0].trim() || 'unknown');
    });
  });
}

/** Boots `kernel` under `accel` and reports whether it finished kernel init within timeoutMs. */
export function probeBoot(
  qemuBinary: string,
  kernel: string,
  accel: Accel,
  timeoutMs: number,
  arch: Arch = 'x86_64',
): Promise<{ booted: boolean; detail: string; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(
      qemuBinary,
      [
        '-nodefaults', '-no-user-config', '-display', 'none', '-sandbox', SANDBOX, ...(arch === 'x86_64' ? [] : machineArgs(arch)),
        ...accelArgs(accel, undefined, arch),
        // Less than ~100 MiB and the cloud kernel cannot even decompress itself.
        '-m', '128M', '-no-reboot', '-serial', 'stdio', '-kernel', kernel,
        '-append', `console=${consoleDevice(arch)} panic=-1`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    let done = false;
    const finish = (booted: boolean, detail: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      resolve({ booted, detail, ms: Math.round(performance.now() - t0) });
    };
    const timer = setTimeout(
      () => finish(false, out ? `the guest did not finish booting within ${timeoutMs} ms` : `no console output within ${timeoutMs} ms`),
      timeoutMs,
    );
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (c: string) => {
      out = (out + c).slice(-64 * 1024);
      if (BOOTED_RE.test(out)) finish(true, 'the guest kernel booted');
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (c: string) => (err = (err + c).slice(-4096)));
    child.on('error', (e) => finish(false, `qemu could not start: ${e.message}`));
    child.on('exit', (code, signal) => {
      if (BOOTED_RE.test(out)) return finish(true, 'the guest kernel booted');
      const firstErr = err.trim().split('\n')[0];
      finish(false, `qemu exited (${signal ?? `code ${code}`}) before the guest booted${firstErr ? `: ${firstErr}` : ''}`);
    });
  });
}

export class AccelProbe {
  private readonly stateDir: string;
  private readonly qemuBinary: string;
  private readonly kernels: string[] | undefined;
  private readonly timeoutMs: number;
  private readonly kvmDevice: string;
  private readonly arch: Arch;
  private inflight: Promise<AccelResult> | undefined;

  constructor(opts: AccelProbeOptions) {
    if (!opts.stateDir) throw new Error('AccelProbe: stateDir is required');
    if (!opts.qemuBinary) throw new Error('AccelProbe: qemuBinary is required');
    if (opts.timeoutMs !== undefined && !(opts.timeoutMs > 0)) throw new Error('AccelProbe: timeoutMs must be > 0');
    this.stateDir = opts.stateDir;
    this.qemuBinary = opts.qemuBinary;
    this.kernels = opts.kernels;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.kvmDevice = opts.kvmDevice ?? '/dev/kvm';
    this.arch = opts.arch ?? 'x86_64';
  }

  get cachePath(): string {
    return join(this.stateDir, CACHE_FILE);
  }

  /** The acceleration to use; probes at most once per QEMU version (concurrent callers share it). */
  result(qemuVer: string): Promise<AccelResult> {
    this.inflight ??= this.resolve(qemuVer).finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  private async resolve(qemuVer: string): Promise<AccelResult> {
    const now = Date.now();
    const tcg = (reason: string, kernel: string | null = null): AccelResult => ({
      accel: 'tcg', kvm: false, reason, qemuVersion: qemuVer, kernel, probedAt: now, cached: false,
    });
    try {
      await access(this.kvmDevice, constants.R_OK | constants.W_OK);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // Not cached: a device that appears later (module loaded) is noticed on the next start.
      return tcg(code === 'ENOENT'
        ? `kvm: no — ${this.kvmDevice} does not exist; using tcg (software emulation, slower)`
        : `kvm: no — ${this.kvmDevice} is not accessible (${code}); add Summon's user to the kvm group; using tcg`);
    }
    const cached = await this.readCache(qemuVer);
    if (cached) return cached;

    const kernels = this.kernels ?? (await defaultProbeKernels());
    let kernel: string | undefined;
    for (const k of kernels) {
      try {
        await access(k, constants.R_OK);
        kernel = k;
        break;
      } catch {
        // try the next one
      }
    }
    if (!kernel) {
      // Not cached either: once a kernel exists (e.g. after the first vm-hello build) we probe.
      return tcg(
        `kvm: unknown — ${this.kvmDevice} exists but no kernel was found to probe it with ` +
          `(looked for /boot/vmlinuz-* and the vm-hello build cache); using tcg`,
      );
    }
    const probe = await probeBoot(this.qemuBinary, kernel, 'kvm', this.timeoutMs, this.arch);
    const result: AccelResult = probe.booted
      ? { accel: 'kvm', kvm: true, reason: `kvm: yes — a probe guest booted under ${this.kvmDevice} in ${probe.ms} ms`,
          qemuVersion: qemuVer, kernel, probedAt: now, cached: false }
      : tcg(`kvm: no — guest did not boot under ${this.kvmDevice} (${probe.detail}); using tcg`, kernel);
    await this.writeCache(result);
    return result;
  }

  private async readCache(qemuVer: string): Promise<AccelResult | undefined> {
    try {
      const c = JSON.parse(await readFile(this.cachePath, 'utf8')) as AccelResult;
      // A QEMU upgrade may fix (or break) KVM support: probe again.
      if (c.qemuVersion !== qemuVer || (c.accel !== 'kvm' && c.accel !== 'tcg')) return undefined;
      return { ...c, cached: true };
    } catch {
      return undefined;
    }
  }

  private async writeCache(r: AccelResult): Promise<void> {
    await mkdir(this.stateDir, { recursive: true });
    const tmp = `${this.cachePath}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify({ ...r, cached: undefined }, null, 2));
    await rename(tmp, this.cachePath);
  }
}
