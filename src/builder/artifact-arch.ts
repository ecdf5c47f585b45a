// The architecture a release needs, decided at build from the artifact itself and [run].arch:
// the header wins, [run].arch may only agree with it (or say what a header cannot: a script,
// a disk image), and a contradiction fails the build before anything is stored.
import { open } from 'node:fs/promises';
import { ARCH_HEAD_BYTES, detectArch, type Arch, type ArchDetection } from '../core/arch.js';
import { BuildError } from '../core/errors.js';

export interface ReleaseArch {
  arch?: Arch;
  /** How it was known: the header's description, or "[run].arch". */
  archFrom?: string;
}

/** Pure: the release's arch from what the header says and what [run].arch asks; throws a
 *  BuildError naming both when they disagree. */
export function resolveReleaseArch(detected: ArchDetection, wanted: Arch | undefined, artifact: string): ReleaseArch {
  if (detected?.arch) {
    if (wanted && wanted !== detected.arch) {
      throw new BuildError('build_failed',
        `[run].arch is ${wanted} but the artifact ${artifact} is ${detected.arch} (${detected.how}): build it for ${wanted}, or set [run].arch = "${detected.arch}" (or leave it out)`);
    }
    return { arch: detected.arch, archFrom: detected.how };
  }
  if (detected && wanted) {
    // Recognised, and of no architecture Summon runs (a 32-bit ARM ELF, a gzip'd kernel).
    throw new BuildError('build_failed', `[run].arch is ${wanted} but the artifact ${artifact} is ${detected.how}, not a ${wanted} executable or kernel`);
  }
  return wanted ? { arch: wanted, archFrom: '[run].arch' } : {};
}

/** Reads the first bytes of `file` and resolves the release's arch (see resolveReleaseArch). */
export async function releaseArchOf(file: string, wanted: Arch | undefined, artifact: string): Promise<ReleaseArch & { detected: ArchDetection }> {
  const fh = await open(file, 'r');
  try {
    const head = Buffer.alloc(ARCH_HEAD_BYTES);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    const detected = detectArch(head.subarray(0, bytesRead));
    return { ...resolveReleaseArch(detected, wanted, artifact), detected };
  } finally {
    await fh.close();
  }
}
