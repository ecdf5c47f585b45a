// The QEMU command line for one instance, built as an argv array (never a shell string).
// Paths of sockets and files are relative: QEMU runs with cwd = the instance's workDir,
// which keeps unix socket paths under the 108-byte limit however deep workDir is.
import type { ImageKind } from './image-kind.js';

export type Accel = 'kvm' | 'tcg';

export interface QemuArgsInput {
  id: string;
  accel: Accel;
  kind: ImageKind;
  artifactPath: string;
  initrdPath?: string;
  cmdline: string;
  memoryBytes: number;
  net: QemuNet;
}

/** user: QEMU's own user-mode network forwards 127.0.0.1:hostPort to the guest port.
 *  tap: the guest NIC sits on a tap device made by tap-net.ts, with a fixed MAC. */
export type QemuNet =
  | { kind: 'user'; hostPort: number; guestPort: number; forwardAddress?: string }
  | { kind: 'tap'; tap: string; mac: string };

export const QMP_SOCKET = 'qmp.sock';
export const CONSOLE_LOG = 'console.log';
export const PID_FILE = 'qemu.pid';

/** The -name every instance carries; recover() checks /proc/<pid>/cmdline for it. */
export function instanceTag(id: string): string {
  return `summon-${id}`;
}

export function accelArgs(accel: Accel): string[] {
  return accel === 'kvm' ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg,thread=multi', '-cpu', 'max'];
}

export function buildQemuArgs(i: QemuArgsInput): string[] {
  const memMiB = Math.max(16, Math.floor(i.memoryBytes / (1024 * 1024)));
  const args = [
    '-name', instanceTag(i.id),
    '-nodefaults', '-no-user-config', '-display', 'none',
    ...accelArgs(i.accel),
    '-m', `${memMiB}M`,
    // A guest that reboots or panics (panic=1) ends the instance: the agent decides what next.
    '-no-reboot',
    '-serial', `file:${CONSOLE_LOG}`,
    '-qmp', `unix:${QMP_SOCKET},server=on,wait=off`,
    '-pidfile', PID_FILE,
    ...netArgs(i.net),
  ];
  if (i.kind === 'kernel') {
    args.push('-kernel', i.artifactPath);
    if (i.initrdPath) args.push('-initrd', i.initrdPath);
    args.push('-append', i.cmdline);
  } else {
    // -snapshot keeps every write in a temporary overlay: the blob is never written.
    args.push('-drive', `file=${escapeOptionValue(i.artifactPath)},format=raw,if=virtio,snapshot=on`);
  }
  return args;
}

function netArgs(n: QemuNet): string[] {
  if (n.kind === 'user') {
    return ['-netdev', `user,id=n0,hostfwd=tcp:${n.forwardAddress ?? '127.0.0.1'}:${n.hostPort}-:${n.guestPort}`, '-device', 'virtio-net-pci,netdev=n0'];
  }
  return ['-netdev', `tap,id=n0,ifname=${n.tap},script=no,downscript=no`, '-device', `virtio-net-pci,netdev=n0,mac=${n.mac}`];
}

/** QEMU option values split on ","; a literal comma is written ",,". */
export function escapeOptionValue(v: string): string {
  return v.replaceAll(',', ',,');
}
