// Finds the dependency lockfiles of a checkout and digests them, so a build manifest says
// exactly which dependency set went into a release.
import { createHash } from 'node:crypto';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { LockfileDigest } from '../core/types.js';

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

function isLockfileName(name: string): boolean {
  return LOCKFILE_NAMES.has(name) || name.endsWith('.opam.locked');
}

export async function findLockfiles(root: string): Promise<LockfileDigest[]> {
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
          found.push({ path, sha256: await hashDir(join(root, path)) });
          continue;
        }
        await walk(path);
      } else if (e.isFile() && isLockfileName(e.name)) {
        found.push({ path, sha256: createHash('sha256').update(await readFile(join(root, path))).digest('hex') });
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
export async function hashDir(dir: string): Promise<string> {
  const lines: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(join(dir, rel), { withFileTypes: true });
    for (const e of entries) {
      const path = rel ? posix.join(rel, e.name) : e.name;
      if (e.isDirectory()) await walk(path);
      else if (e.isSymbolicLink()) lines.push(`${path}\0link:${await readlink(join(dir, path))}\n`);
      else if (e.isFile()) {
        lines.push(`${path}\0file:${createHash('sha256').update(await readFile(join(dir, path))).digest('hex')}\n`);
      }
    }
  };
  await walk('');
  lines.sort();
  const h = createHash('sha256');
  for (const l of lines) h.update(l);
  return h.digest('hex');
}
