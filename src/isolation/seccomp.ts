// The seccomp filter every confined build and process instance runs under, as a classic BPF
// program for bubblewrap's `--seccomp FD`. Allow by default, refuse what a build or a web app
// never needs and what turns a local foothold into more: kernel modules, kexec, reboot,
// mount and namespace calls, ptrace and cross-process memory access, keyrings, bpf,
// perf_event_open, userfaultfd, clock and swap changes. The list follows what Docker's
// default profile and Kubernetes' RuntimeDefault leave out. clone3 answers ENOSYS (so libc
// falls back to clone, whose flags a filter can read) and clone with any CLONE_NEW* flag is
// refused: no confined process can make a namespace of its own. A program for another
// architecture (x32 calls on x86-64, for example) is killed before it runs a call.
import { arch as hostArch } from 'node:os';

const DENIED = [
  'acct', 'add_key', 'bpf', 'clock_adjtime', 'clock_settime', 'delete_module', 'finit_module',
  'init_module', 'create_module', 'get_kernel_syms', 'kexec_file_load', 'kexec_load', 'keyctl',
  'lookup_dcookie', 'mount', 'umount2', 'move_mount', 'fsopen', 'fsconfig', 'fsmount', 'fspick',
  'open_tree', 'mount_setattr', 'open_by_handle_at', 'name_to_handle_at', 'perf_event_open',
  'pivot_root', 'process_vm_readv', 'process_vm_writev', 'ptrace', 'quotactl', 'quotactl_fd',
  'reboot', 'request_key', 'setns', 'settimeofday', 'swapon', 'swapoff', 'sysfs', '_sysctl',
  'unshare', 'userfaultfd', 'uselib', 'ustat', 'iopl', 'ioperm', 'kcmp', 'syslog', 'nfsservctl',
  'fanotify_init', 'pidfd_getfd',
] as const;

/** Syscall numbers from the kernel's uapi headers (asm/unistd_64.h, asm-generic/unistd.h). */
export const SYSCALLS: Record<'x64' | 'arm64', Record<string, number>> = {
  x64: {
    acct: 163, add_key: 248, bpf: 321, clock_adjtime: 305, clock_settime: 227, delete_module: 176,
    finit_module: 313, init_module: 175, create_module: 174, get_kernel_syms: 177,
    kexec_file_load: 320, kexec_load: 246, keyctl: 250, lookup_dcookie: 212, mount: 165,
    umount2: 166, move_mount: 429, fsopen: 430, fsconfig: 431, fsmount: 432, fspick: 433,
    open_tree: 428, mount_setattr: 442, open_by_handle_at: 304, name_to_handle_at: 303,
    perf_event_open: 298, pivot_root: 155, process_vm_readv: 310, process_vm_writev: 311,
    ptrace: 101, quotactl: 179, quotactl_fd: 443, reboot: 169, request_key: 249, setns: 308,
    settimeofday: 164, swapon: 167, swapoff: 168, sysfs: 139, _sysctl: 156, unshare: 272,
    userfaultfd: 323, uselib: 134, ustat: 136, iopl: 172, ioperm: 173, kcmp: 312, syslog: 103,
    nfsservctl: 180, fanotify_init: 300, pidfd_getfd: 438, clone: 56, clone3: 435,
  },
  arm64: {
    acct: 89, add_key: 217, bpf: 280, clock_adjtime: 266, clock_settime: 112, delete_module: 106,
    finit_module: 273, init_module: 105, kexec_file_load: 294, kexec_load: 104, keyctl: 219,
    lookup_dcookie: 18, mount: 40, umount2: 39, move_mount: 429, fsopen: 430, fsconfig: 431,
    fsmount: 432, fspick: 433, open_tree: 428, mount_setattr: 442, open_by_handle_at: 265,
    name_to_handle_at: 264, perf_event_open: 241, pivot_root: 41, process_vm_readv: 270,
    process_vm_writev: 271, ptrace: 117, quotactl: 60, quotactl_fd: 443, reboot: 142,
    request_key: 218, setns: 268, settimeofday: 170, swapon: 224, swapoff: 225, unshare: 97,
    userfaultfd: 282, kcmp: 272, syslog: 116, nfsservctl: 42, fanotify_init: 262,
    pidfd_getfd: 438, clone: 220, clone3: 435,
  },
};

const AUDIT_ARCH = { x64: 0xc000003e, arm64: 0xc00000b7 } as const;
const X32_BIT = 0x40000000;
/** CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET. */
export const CLONE_NEW_MASK = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000;
const EPERM = 1;
const ENOSYS = 38;

// BPF opcodes (linux/bpf_common.h) and seccomp return values (linux/seccomp.h).
const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const JSET_K = 0x45;
const RET_K = 0x06;
const RET_ALLOW = 0x7fff0000;
const RET_KILL_PROCESS = 0x80000000;
const retErrno = (e: number) => 0x00050000 | e;

export interface BpfInsn { code: number; jt: number; jf: number; k: number }

export type SeccompArch = keyof typeof SYSCALLS;

export function seccompArch(a: string = hostArch()): SeccompArch | null {
  return a === 'x64' || a === 'arm64' ? a : null;
}

/** The filter as instructions (for tests and for the interpreter below). */
export function filterProgram(arch: SeccompArch): BpfInsn[] {
  const nr = SYSCALLS[arch];
  const p: BpfInsn[] = [];
  const ins = (code: number, k: number, jt = 0, jf = 0) => p.push({ code, jt, jf, k: k >>> 0 });
  ins(LD_W_ABS, 4); // seccomp_data.arch
  ins(JEQ_K, AUDIT_ARCH[arch], 1, 0);
  ins(RET_K, RET_KILL_PROCESS);
  ins(LD_W_ABS, 0); // seccomp_data.nr
  if (arch === 'x64') {
    ins(JGE_K, X32_BIT, 0, 1);
    ins(RET_K, RET_KILL_PROCESS);
  }
  for (const name of DENIED) {
    const n = nr[name];
    if (n === undefined) continue; // not a call on this architecture
    ins(JEQ_K, n, 0, 1);
    ins(RET_K, retErrno(EPERM));
  }
  ins(JEQ_K, nr.clone3!, 0, 1);
  ins(RET_K, retErrno(ENOSYS));
  ins(JEQ_K, nr.clone!, 0, 3);
  ins(LD_W_ABS, 16); // low 32 bits of args[0]: clone's flags
  ins(JSET_K, CLONE_NEW_MASK, 0, 1);
  ins(RET_K, retErrno(EPERM));
  ins(RET_K, RET_ALLOW);
  return p;
}

/** struct sock_filter[] in the host's byte order (little-endian on both architectures). */
export function filterBytes(arch: SeccompArch): Buffer {
  const prog = filterProgram(arch);
  const b = Buffer.alloc(prog.length * 8);
  prog.forEach((x, i) => {
    b.writeUInt16LE(x.code, i * 8);
    b.writeUInt8(x.jt, i * 8 + 2);
    b.writeUInt8(x.jf, i * 8 + 3);
    b.writeUInt32LE(x.k, i * 8 + 4);
  });
  return b;
}

/** Runs the program on one call, as the kernel would: for the unit tests. */
export function evaluate(prog: BpfInsn[], call: { arch: number; nr: number; args?: number[] }): number {
  let acc = 0;
  for (let pc = 0; pc < prog.length; pc++) {
    const x = prog[pc]!;
    switch (x.code) {
      case LD_W_ABS:
        acc = x.k === 0 ? call.nr : x.k === 4 ? call.arch : x.k >= 16 ? (call.args?.[(x.k - 16) / 8] ?? 0) >>> 0 : 0;
        break;
      case JEQ_K: pc += acc === x.k ? x.jt : x.jf; break;
      case JGE_K: pc += acc >= x.k ? x.jt : x.jf; break;
      case JSET_K: pc += (acc & x.k) !== 0 ? x.jt : x.jf; break;
      case RET_K: return x.k;
      default: throw new Error(`unknown BPF opcode ${x.code}`);
    }
  }
  throw new Error('the program fell off its end');
}

export const SECCOMP = { RET_ALLOW, RET_KILL_PROCESS, EPERM: retErrno(EPERM), ENOSYS: retErrno(ENOSYS), AUDIT_ARCH, DENIED };
