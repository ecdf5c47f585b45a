// Bootable raw disks from a kernel (+ initrd): an MBR with syslinux's boot code, one FAT
// partition holding the kernel, the initrd and a syslinux.cfg with the command line, and
// syslinux installed into it. Everything works on the image file at an offset (mtools,
// mkfs.fat --offset, syslinux --offset): no loop devices, no mounts, no root needed.
// exportGceImage packs a raw disk the way Google Compute Engine imports it.
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, open, readFile, rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { InvalidInputError } from '../core/errors.js';

export interface BootableDiskOptions {
  kernel: string;
  initrd?: string;
  /** The kernel command line; a serial console on ttyS0 is added unless it names a console. */
  cmdline: string;
  out: string;
  /** Where syslinux's mbr.bin lives (Debian's syslinux-common). */
  mbrPath?: string;
}

const SECTOR = 512;
const PART_START_SECTOR = 2048; // 1 MiB, the usual alignment
const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
const DEFAULT_MBR = '/usr/lib/syslinux/mbr/mbr.bin';
const TOOLS_HINT = 'install them with `apt-get install syslinux syslinux-common mtools dosfstools`';

export async function buildBootableDisk(opts: BootableDiskOptions): Promise<void> {
  if (!opts.kernel || !opts.out) throw new InvalidInputError('buildBootableDisk: kernel and out are required');
  if (/[\r\n]/.test(opts.cmdline)) throw new InvalidInputError('buildBootableDisk: the command line must be one line');
  const cmdline = /(^|\s)console=/.test(opts.cmdline) ? opts.cmdline.trim() : `console=ttyS0 ${opts.cmdline}`.trim();
  const mbr = await readFile(opts.mbrPath ?? DEFAULT_MBR).catch(() => {
    throw new InvalidInputError(`syslinux MBR boot code not found at ${opts.mbrPath ?? DEFAULT_MBR}: ${TOOLS_HINT}`);
  });
  if (mbr.length > 440) throw new InvalidInputError(`${opts.mbrPath ?? DEFAULT_MBR} is ${mbr.length} bytes; MBR boot code must fit in 440`);

  const payload = (await stat(opts.kernel)).size + (opts.initrd ? (await stat(opts.initrd)).size : 0);
  // FAT overhead plus room for ldlinux.sys/ldlinux.c32; FAT16 needs at least ~16 MiB.
  const partBytes = Math.max(32 * MIB, Math.ceil((payload * 1.1 + 4 * MIB) / MIB) * MIB);
  const partSectors = partBytes / SECTOR;
  const offset = PART_START_SECTOR * SECTOR;
  const tmp = `${opts.out}.${process.pid}.tmp`;
  await rm(tmp, { force: true });
  try {
    await writeFile(tmp, '');
    await truncate(tmp, offset + partBytes);

    // The MBR: boot code, a disk signature, one active FAT16-LBA partition, 0x55AA.
    const sector0 = Buffer.alloc(SECTOR);
    mbr.copy(sector0, 0);
    randomBytes(4).copy(sector0, 440);
    const e = 446;
    sector0[e] = 0x80; // active: syslinux's mbr.bin boots the active partition
    sector0.writeUIntLE(0xfffffe, e + 1, 3); // CHS start: "use LBA"
    sector0[e + 4] = 0x0e; // FAT16, LBA
    sector0.writeUIntLE(0xfffffe, e + 5, 3); // CHS end: "use LBA"
    sector0.writeUInt32LE(PART_START_SECTOR, e + 8);
    sector0.writeUInt32LE(partSectors, e + 12);
    sector0[510] = 0x55;
    sector0[511] = 0xaa;
    const fh = await open(tmp, 'r+');
    try {
      await fh.write(sector0, 0, SECTOR, 0);
    } finally {
      await fh.close();
    }

    await run('mkfs.fat', ['-F', '16', '-n', 'SUMMON', '--offset', String(PART_START_SECTOR), tmp, String(partBytes / 1024)]);
    const img = `${tmp}@@${offset}`;
    const cfg = join(dirname(tmp), `${process.pid}.syslinux.cfg`);
    await writeFile(cfg, syslinuxConfig(cmdline, Boolean(opts.initrd)));
    try {
      await run('mcopy', ['-i', img, '-o', '--', opts.kernel, '::vmlinuz']);
      if (opts.initrd) await run('mcopy', ['-i', img, '-o', '--', opts.initrd, '::initrd.gz']);
      await run('mcopy', ['-i', img, '-o', '--', cfg, '::syslinux.cfg']);
    } finally {
      await rm(cfg, { force: true });
    }
    await run('syslinux', ['--offset', String(offset), '--install', tmp]);
    await rename(tmp, opts.out);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

export function syslinuxConfig(cmdline: string, withInitrd: boolean): string {
  return [
    'SERIAL 0 115200',
    'DEFAULT summon',
    'PROMPT 0',
    'TIMEOUT 0',
    'LABEL summon',
    '  KERNEL vmlinuz',
    ...(withInitrd ? ['  INITRD initrd.gz'] : []),
    `  APPEND ${cmdline}`,
    '',
  ].join('\n');
}

/**
 * Packs a raw disk for Google Compute Engine: a gzipped GNU (oldgnu) tar whose only member
 * is `disk.raw`, stored sparse, padded to a whole number of GiB as GCE requires.
 */
export async function exportGceImage(raw: string, outTarGz: string): Promise<void> {
  const size = (await stat(raw)).size;
  const dir = await mkdtemp(join(tmpdir(), 'summon-gce-'));
  try {
    const disk = join(dir, 'disk.raw');
    await copyFile(raw, disk);
    await truncate(disk, Math.ceil(size / GIB) * GIB); // the padding is a hole, not written data
    const tmp = `${outTarGz}.${process.pid}.tmp`;
    await run('tar', ['--format=oldgnu', '--sparse', '-czf', tmp, '-C', dir, 'disk.raw']);
    await rename(tmp, outTarGz);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 120_000, maxBuffer: 4 * MIB, env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      reject(new Error(missing
        ? `${cmd} not found: ${TOOLS_HINT}`
        : `${cmd} ${args.join(' ')} failed: ${(stderr || err.message).trim()}`));
    });
  });
}
