// The QEMU command line for one instance, built as an argv array (never a shell string).
// Paths of sockets and files are relative: QEMU runs with cwd = the instance's workDir,
// which keeps unix socket paths under the 108-byte limit however deep workDir is.
import type { ImageKind } from './image-kind.js';
import type { Arch } from '../../core/arch.js';

export type Accel = 'kvm' | 'tcg';

/** The QEMU binary for each guest architecture (Debian: qemu-system-x86, qemu-system-arm). */
export const QEMU_BINARIES: Readonly<Record<Arch, string>> = { x86_64: 'qemu-system-x86_64', aarch64: 'qemu-system-aarch64' };
/** The Debian package each binary is in. */
export const QEMU_PACKAGES: Readonly<Record<Arch, string>> = { x86_64: 'qemu-system-x86', aarch64: 'qemu-system-arm' };

/** The guest's serial console: the PC's 16550 UART, or the virt machine's PL011. */
export function consoleDevice(arch: Arch = 'x86_64'): string {
  return arch === 'aarch64' ? 'ttyAMA0' : 'ttyS0';
}

/** -machine for the guest architecture: x86's default PC, or arm's virt board (a device
 *  tree, PCIe for virtio-net-pci, a PL011 console, fw_cfg over MMIO). */
export function machineArgs(arch: Arch = 'x86_64'): string[] {
  return ['-machine', `${arch === 'aarch64' ? 'virt,' : ''}usb=off,dump-guest-core=off`];
}

export interface QemuArgsInput {
  id: string;
  accel: Accel;
  kind: ImageKind;
  artifactPath: string;
  initrdPath?: string;
  cmdline: string;
  memoryBytes: number;
  net: QemuNet;
  /** The guest's architecture (default x86_64): machine, CPU and console follow it. */
  arch?: Arch;
  /** A file (relative to workDir) the guest reads as the fw_cfg entry opt/summon/env. */
  envFile?: string;
  /** Under TCG, the most memory (MiB) translated code may take (QEMU's tb-size); a confined
   *  QEMU sets it, so its memory limit holds (QEMU 7.2's default may grow to 1 GiB). */
  tcgCodeBufferMiB?: number;
  /** Leaves out -pidfile: QEMU resolves its path to an absolute one, which a QEMU running as
   *  an app's user cannot do below Summon's 0700 DATA directory (the pid is known anyway). */
  noPidFile?: boolean;
}

/** user: QEMU's own user-mode network forwards 127.0.0.1:hostPort to the guest port, with
 *  restrict=on: the guest can open no connection of its own (slirp would map 10.0.2.2 to the
 *  host's 127.0.0.1, i.e. Summon's API and every process app), the forward still works.
 *  tap: the guest NIC sits on a tap device made by tap-net.ts, with a fixed MAC. */
export type QemuNet =
  | { kind: 'user'; hostPort: number; guestPort: number; forwardAddress?: string }
  | { kind: 'tap'; tap: string; mac: string };

export const QMP_SOCKET = 'qmp.sock';
export const CONSOLE_LOG = 'console.log';
export const PID_FILE = 'qemu.pid';
/** The instance's config vars, 0600 in its workDir, offered to the guest as fw_cfg opt/summon/env. */
export const ENV_FILE = 'summon-env';
export const FW_CFG_ENV = 'opt/summon/env';
export const FW_CFG_CMDLINE = 'opt/summon/cmdline';

/** QEMU's seccomp filter as libvirt sets it: no obsolete syscalls, no set*uid/gid, no
 *  fork/exec, no scheduler or CPU-affinity changes. QEMU 7.2 (Debian 12) accepts all five. */
export const SANDBOX = 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny';

/** The -name every instance carries; recover() checks /proc/<pid>/cmdline for it. */
export function instanceTag(id: string): string {
  return `summon-${id}`;
}

/** Under TCG an arm64 guest gets a Cortex-A57: -cpu max emulates pointer authentication,
 *  which made vm-hello-arm64's boot 3.6x slower here (8.8 s against 2.4 s to init). */
export function accelArgs(accel: Accel, tcgCodeBufferMiB?: number, arch: Arch = 'x86_64'): string[] {
  if (accel === 'kvm') return ['-accel', 'kvm', '-cpu', 'host'];
  return ['-accel', `tcg,thread=multi${tcgCodeBufferMiB ? `,tb-size=${tcgCodeBufferMiB}` : ''}`, '-cpu', arch === 'aarch64' ? 'cortex-a57' : 'max'];
}

export function buildQemuArgs(i: QemuArgsInput): string[] {
  const memMiB = Math.max(16, Math.floor(i.memoryBytes / (1024 * 1024)));
  const args = [
    '-name', instanceTag(i.id),
    // libvirt's defaults that apply: no default devices or config files, no USB, guest RAM
    // left out of any QEMU core dump (it holds the config vars), the seccomp sandbox.
    '-nodefaults', '-no-user-config', '-display', 'none',
    ...machineArgs(i.arch),
    '-sandbox', SANDBOX,
    ...accelArgs(i.accel, i.tcgCodeBufferMiB, i.arch),
    '-m', `${memMiB}M`,
    // A guest that reboots or panics (panic=1) ends the instance: the agent decides what next.
    '-no-reboot',
    '-serial', `file:${CONSOLE_LOG}`,
    '-qmp', `unix:${QMP_SOCKET},server=on,wait=off`,
    ...(i.noPidFile ? [] : ['-pidfile', PID_FILE]),
    ...netArgs(i.net),
  ];
  if (i.envFile) args.push('-fw_cfg', `name=${FW_CFG_ENV},file=${escapeOptionValue(i.envFile)}`);
  if (i.kind === 'kernel') {
    args.push('-kernel', i.artifactPath);
    if (i.initrdPath) args.push('-initrd', i.initrdPath);
    args.push('-append', i.cmdline);
  } else {
    // -snapshot keeps every write in a temporary overlay: the blob is never written.
    args.push('-drive', `file=${escapeOptionValue(i.artifactPath)},format=raw,if=virtio,snapshot=on`);
    // A disk boots with the command line its own boot loader holds; Summon's words (no config
    // vars: those are in opt/summon/env) are offered at /sys/firmware/qemu_fw_cfg/by_name/opt/summon/cmdline/raw.
    if (i.cmdline) args.push('-fw_cfg', `name=${FW_CFG_CMDLINE},string=${escapeOptionValue(i.cmdline)}`);
  }
  return args;
}

function netArgs(n: QemuNet): string[] {
  if (n.kind === 'user') {
    return ['-netdev', `user,id=n0,restrict=on,hostfwd=tcp:${n.forwardAddress ?? '127.0.0.1'}:${n.hostPort}-:${n.guestPort}`, '-device', 'virtio-net-pci,netdev=n0'];
  }
  return ['-netdev', `tap,id=n0,ifname=${n.tap},script=no,downscript=no`, '-device', `virtio-net-pci,netdev=n0,mac=${n.mac}`];
}

/** QEMU option values split on ","; a literal comma is written ",,". */
export function escapeOptionValue(v: string): string {
  return v.replaceAll(',', ',,');
}
