// What kind of bootable thing an artifact is, from its content (never its name): a Linux
// kernel is booted with -kernel, a disk image through its own boot loader.
import { open } from 'node:fs/promises';
import { detectArch, type Arch } from '../../core/arch.js';

export type ImageKind = 'kernel' | 'disk';

/** Classifies the first 1 KiB of an image; undefined when it is neither. */
export function classifyImageHeader(head: Buffer): ImageKind | undefined {
  // Linux x86 boot protocol: "HdrS" at 0x202 in every bzImage since 2.00.
  if (head.length >= 0x206 && head.toString('latin1', 0x202, 0x206) === 'HdrS') return 'kernel';
  // Linux arm64 boot protocol: the Image header's magic "ARM\x64" at 0x38.
  if (head.length >= 0x3c && head.readUInt32LE(0x38) === 0x644d5241) return 'kernel';
  // A PC boot sector (MBR) ends in 0x55 0xAA at offset 510.
  if (head.length >= 512 && head[510] === 0x55 && head[511] === 0xaa) return 'disk';
  return undefined;
}

export async function detectImageKind(path: string): Promise<ImageKind> {
  return (await detectImage(path)).kind;
}

/** The kind and the architecture of a VM image: a kernel's own (bzImage x86_64, Image
 *  aarch64); a raw disk boots through the PC's BIOS, so it is x86_64. */
export async function detectImage(path: string): Promise<{ kind: ImageKind; arch: Arch }> {
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(1024);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    const kind = classifyImageHeader(head.subarray(0, bytesRead));
    if (!kind) {
      throw new Error(
        `${path} is neither a Linux kernel (x86 bzImage, "HdrS" at 0x202; arm64 Image, "ARM\\x64" at 0x38) nor a bootable raw disk (0x55AA at 510): ` +
          'point [build].artifact at the kernel (an arm64 kernel decompressed) or at a disk made by buildBootableDisk',
      );
    }
    const arch = kind === 'kernel' ? (detectArch(head.subarray(0, bytesRead))?.arch ?? 'x86_64') : 'x86_64';
    return { kind, arch };
  } finally {
    await fh.close();
  }
}
