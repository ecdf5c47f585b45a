// Finds the dependency lockfiles of a checkout and digests them, so a build manifest says
// exactly which dependency set went into a release.
//
// A lockfile is pushed content: git compresses a gigabyte of zeros into a megabyte, so the
// push size says nothing about the checkout's. Every file is therefore sized with fstat()
// before a byte is read, refused past a per-file and a per-build limit, and hashed as a
// stream, so memory stays flat and the event loop (which also runs the router) keeps turning.
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, readdir, readlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { BuildError, InvalidInputError } from '../core/errors.js';
import type { LockfileDigest } from '../core/types.js';
import { formatSize } from '../core/units.js';

const LOCKFILE_NAMES = new Set([
  'package-lock.json',
  'npm-shrinkwrap.json',
  'yarn.lock',
  'pnpm-lock.yaml',
  'dune.lock',
  'Cargo.lock',
  'go.sum',
  'poetry.lock',
  'Gemfile.lock',
  'composer.lock',
  'flake.lock',
]);
const SKIP_DIRS = new Set(['.git', 'node_modules']);
/** Bounds the walk over a hostile or enormous checkout. */
const MAX_ENTRIES = 200_000;

export interface LockfileLimits {
  /** One lockfile (or one file inside a dune.lock directory). */
  maxFileBytes: number;
  /** All the lockfiles of one build together: bounds the hashing time, not only memory. */
  maxTotalBytes: number;
}

/** The largest real lockfiles (a big monorepo's package-lock.json) are a few MB. */
export const DEFAULT_LOCKFILE_LIMITS: Readonly<LockfileLimits> = Object.freeze({
  maxFileBytes: 64 * 1024 * 1024,
  maxTotalBytes: 256 * 1024 * 1024,
});

/** Fills in defaults and refuses limits that are not positive whole byte counts. */
export function lockfileLimits(given: Partial<LockfileLimits> = {}): LockfileLimits {
  const out = { ...DEFAULT_LOCKFILE_LIMITS, ...stripUndefined(given) };
  for (const key of ['maxFileBytes', 'maxTotalBytes'] as const) {
    const v = out[key];
    if (!Number.isSafeInteger(v) || v < 1) {
      throw new InvalidInputError(`lockfile limits: ${key} must be a whole number of bytes ≥ 1, got ${String(v)}`, { key });
    }
  }
  return out;
}

/** Bytes hashed so far in one build, against its limits. */
class Budget {
  private used = 0;
  constructor(readonly limits: LockfileLimits) {}

  /** How many bytes `path` may have; throws when `size` is past that. */
  allow(path: string, size: number): number {
    const { maxFileBytes, maxTotalBytes } = this.limits;
    if (size > maxFileBytes) {
      throw new BuildError(
        'build_failed',
        `lockfile ${path} is ${describe(size)}, past the ${describe(maxFileBytes)} limit for one lockfile; ` +
          'it was not read. A real lockfile is far smaller: remove the file from the repository, or rename it if it is not a lockfile, and push again',
        { path, size, limit: maxFileBytes, reason: 'lockfile too large' },
      );
    }
    if (this.used + size > maxTotalBytes) {
      throw new BuildError(
        'build_failed',
        `lockfile ${path} (${describe(size)}) takes the lockfiles of this build past ${describe(maxTotalBytes)} in all ` +
          `(${describe(this.used)} before it); it was not read. Remove lockfiles that are not real ones from the repository and push again`,
        { path, size, limit: maxTotalBytes, reason: 'lockfiles too large in total' },
      );
    }
    return Math.min(maxFileBytes, maxTotalBytes - this.used);
  }

  spend(bytes: number): void {
    this.used += bytes;
  }
}

function isLockfileName(name: string): boolean {
  return LOCKFILE_NAMES.has(name) || name.endsWith('.opam.locked');
}

export async function findLockfiles(root: string, limits: Partial<LockfileLimits> = {}): Promise<LockfileDigest[]> {
  const budget = new Budget(lockfileLimits(limits));
  const found: LockfileDigest[] = [];
  let seen = 0;
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(join(root, rel), { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (++seen > MAX_ENTRIES) return;
      const path = rel ? posix.join(rel, e.name) : e.name;
      // Symlinks are never followed: a lockfile must be in the checkout itself.
      if (e.isDirectory()) {
        if (SKIP_DIRS.has(e.name)) continue;
        if (e.name === 'dune.lock') {
          found.push({ path, sha256: await digestDir(join(root, path), path, budget) });
          continue;
        }
        await walk(path);
      } else if (e.isFile() && isLockfileName(e.name)) {
        found.push({ path, sha256: await hashFile(join(root, path), path, budget) });
      }
    }
  };
  await walk('');
  return found;
}

/**
 * A deterministic digest of a directory: sha256 over sorted lines of
 * "<relative path>\0<kind>:<sha256 of content or link target>\n". Independent of
 * mtimes, permissions and the order readdir returns entries in.
 */
export async function hashDir(dir: string, limits: Partial<LockfileLimits> = {}): Promise<string> {
  return digestDir(dir, '.', new Budget(lockfileLimits(limits)));
}

async function digestDir(dir: string, shownAs: string, budget: Budget): Promise<string> {
  const lines: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(join(dir, rel), { withFileTypes: true });
    for (const e of entries) {
      const path = rel ? posix.join(rel, e.name) : e.name;
      if (e.isDirectory()) await walk(path);
      else if (e.isSymbolicLink()) lines.push(`${path}\0link:${await readlink(join(dir, path))}\n`);
      else if (e.isFile()) lines.push(`${path}\0file:${await hashFile(join(dir, path), posix.join(shownAs, path), budget)}\n`);
    }
  };
  await walk('');
  lines.sort();
  const h = createHash('sha256');
  for (const l of lines) h.update(l);
  return h.digest('hex');
}

/**
 * The sha256 of one regular file, sized before it is read and streamed into the hash.
 * The file is opened once and everything is asked of that descriptor: a toolchain command
 * that swapped it for a symlink (O_NOFOLLOW), a FIFO (O_NONBLOCK, then fstat) or a bigger
 * file after the size check (reads stop one byte past the allowance) gains nothing.
 */
async function hashFile(abs: string, path: string, budget: Budget): Promise<string> {
  const fh = await open(abs, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch((e: NodeJS.ErrnoException) => {
    throw new BuildError('build_failed', `lockfile ${path} could not be opened (${e.code ?? e.message}): it must be a regular file in the checkout`, {
      path,
      reason: 'unreadable lockfile',
    });
  });
  try {
    const st = await fh.stat();
    if (!st.isFile()) {
      throw new BuildError('build_failed', `lockfile ${path} is not a regular file: a build step replaced it; lockfiles must be committed files`, {
        path,
        reason: 'not a regular file',
      });
    }
    const allowed = budget.allow(path, st.size);
    const hash = createHash('sha256');
    let read = 0;
    // `end` is inclusive: at most allowed + 1 bytes, enough to tell that the file grew.
    for await (const chunk of fh.createReadStream({ start: 0, end: allowed, autoClose: false })) {
      const buf = chunk as Buffer;
      read += buf.length;
      hash.update(buf);
    }
    if (read > allowed) {
      throw new BuildError('build_failed', `lockfile ${path} grew past ${describe(allowed)} while it was being hashed: a build step is writing to it; lockfiles must be committed files`, {
        path,
        size: read,
        limit: allowed,
        reason: 'lockfile grew',
      });
    }
    budget.spend(read);
    return hash.digest('hex');
  } finally {
    await fh.close();
  }
}

function describe(bytes: number): string {
  const short = formatSize(bytes);
  return short.endsWith('bytes') ? short : `${short} (${bytes.toLocaleString('en-US')} bytes)`;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
