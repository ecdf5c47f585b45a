// CPU architectures: what an artifact is built for (read from its first bytes, never its
// name), what `[run].arch` asks for, and what a host runs. Two are known: x86_64 and aarch64.
export const ARCHES = ['x86_64', 'aarch64'] as const;
export type Arch = (typeof ARCHES)[number];

/** Other names for the canonical ones, as Debian (amd64, arm64) and Node (x64) spell them. */
export const ARCH_ALIASES: Readonly<Record<string, Arch>> = { amd64: 'x86_64', x64: 'x86_64', arm64: 'aarch64' };

/** The canonical name of `name` (x86_64, aarch64, or an alias of one), else undefined. */
export function canonicalArch(name: string): Arch | undefined {
  if ((ARCHES as readonly string[]).includes(name)) return name as Arch;
  return Object.hasOwn(ARCH_ALIASES, name) ? ARCH_ALIASES[name] : undefined;
}

/** This machine's architecture (Node's process.arch), undefined for one Summon does not know. */
export function hostArch(nodeArch: string = process.arch): Arch | undefined {
  return canonicalArch(nodeArch);
}

/** How many of an artifact's first bytes detectArch reads. */
export const ARCH_HEAD_BYTES = 1024;

/** ELF e_machine values (System V gABI). */
const ELF_MACHINES: Readonly<Record<number, Arch>> = { 62: 'x86_64', 183: 'aarch64' };
/** A few that are recognised to say what they are, though Summon runs none of them. */
const ELF_OTHER: Readonly<Record<number, string>> = { 3: 'i386', 8: 'mips', 20: 'ppc', 21: 'ppc64', 22: 's390x', 40: 'arm (32-bit)', 243: 'riscv' };

export type ArchDetection =
  | { arch: Arch; how: string }
  /** Recognised, and of an architecture Summon does not run. */
  | { arch: null; how: string }
  /** Nothing that says an architecture: a script, a disk image, data. */
  | undefined;

/**
 * The architecture of an artifact from its first bytes (at least ARCH_HEAD_BYTES when the file
 * has them): an ELF executable or kernel (e_machine at 18, in the byte order EI_DATA says), an
 * arm64 Linux Image (the magic "ARM\x64" at 0x38), an x86 bzImage ("HdrS" at 0x202).
 */
export function detectArch(head: Buffer): ArchDetection {
  if (head.length >= 20 && head[0] === 0x7f && head.toString('latin1', 1, 4) === 'ELF') {
    const little = head[5] !== 2; // EI_DATA: 1 little-endian, 2 big-endian
    const machine = little ? head.readUInt16LE(18) : head.readUInt16BE(18);
    const arch = ELF_MACHINES[machine];
    if (arch) return { arch, how: `ELF, e_machine ${machine}` };
    return { arch: null, how: `ELF for ${ELF_OTHER[machine] ?? `e_machine ${machine}`}` };
  }
  if (head.length >= 0x3c && head.readUInt32LE(0x38) === 0x644d5241) return { arch: 'aarch64', how: 'arm64 Linux Image ("ARM\\x64" at 0x38)' };
  if (head.length >= 0x206 && head.toString('latin1', 0x202, 0x206) === 'HdrS') return { arch: 'x86_64', how: 'x86 Linux bzImage ("HdrS" at 0x202)' };
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) {
    return { arch: null, how: 'gzip-compressed (a compressed kernel: decompress it in the build, QEMU boots an arm64 kernel only as a plain Image)' };
  }
  return undefined;
}

/** What a runtime of a host runs for one architecture: natively (KVM, or the host's own CPU
 *  for a process) or emulated (QEMU's TCG). */
export interface ArchSupport {
  arch: Arch;
  native: boolean;
}

export function describeArches(list: readonly ArchSupport[]): string {
  return list.map((a) => `${a.arch} (${a.native ? 'native' : 'emulated'})`).join(', ');
}

/** Whether a runtime whose capability lists `arches` runs `arch`; a capability without the
 *  list (an agent from before it) is taken at its word and tried. */
export function runsArch(arches: readonly ArchSupport[] | undefined, arch: Arch | undefined): boolean {
  if (!arch || !arches) return true;
  return arches.some((a) => a.arch === arch);
}
