// What kind of bootable thing an artifact is, from its content (never its name): a Linux
// kernel is booted with -kernel, a disk image through its own boot loader.
import { open } from 'node:fs/promises';

export type ImageKind = 'kernel' | 'disk';

/** Classifies the first 1 KiB of an image; undefined when it is neither. */
export function classifyImageHeader(head: Buffer): ImageKind | undefined {
  // Linux x86 boot protocol: "HdrS" at 0x202 in every bzImage since 2.00.
  if (head.length >= 0x206 && head.toString('latin1', 0x202, 0x206) === 'HdrS') return 'kernel';
  // A PC boot sector (MBR) ends in 0x55 0xAA at offset 510.
  if (head.length >= 512 && head[510] === 0x55 && head[511] === 0xaa) return 'disk';
  return undefined;
}

export async function detectImageKind(path: string): Promise<ImageKind> {
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(1024);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    const kind = classifyImageHeader(head.subarray(0, bytesRead));
    if (!kind) {
      throw new Error(
        `${path} is neither a Linux kernel (bzImage, "HdrS" at 0x202) nor a bootable raw disk (0x55AA at 510): ` +
          'point [build].artifact at the kernel or at a disk made by buildBootableDisk',
      );
    }
    return kind;
  } finally {
    await fh.close();
  }
}
