// What a commit's tree would take on disk once checked out, read from git's own listing before
// a byte is written: a push of a few kilobytes can hold gigabytes of compressible blobs (a git
// "zip bomb": 1 MB pushed became 2 GB of temporary disk), or millions of small files.
import { spawn } from 'node:child_process';
import { BuildError } from '../core/errors.js';
import { formatSize } from '../core/units.js';

export interface CheckoutLimits {
  /** Sum of the tree's file sizes (default 1G). */
  maxBytes: number;
  /** Number of files (default 100,000). */
  maxFiles: number;
}

export const DEFAULT_CHECKOUT_LIMITS: CheckoutLimits = { maxBytes: 1024 ** 3, maxFiles: 100_000 };

/** Streams `git ls-tree -r -l -z TREE` and stops it as soon as a limit is passed. */
export function checkTreeSize(gitPath: string, tree: string, env: Record<string, string>, limits: CheckoutLimits): Promise<{ bytes: number; files: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(gitPath, ['ls-tree', '-r', '-l', '-z', '--full-tree', '--end-of-options', tree], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let bytes = 0;
    let files = 0;
    let rest = '';
    let stderr = '';
    let over: BuildError | null = null;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      if (over) return;
      const records = (rest + chunk).split('\0');
      rest = records.pop() ?? '';
      for (const r of records) {
        // "<mode> <type> <object> <size>\t<path>": size is "-" for submodules (commits).
        const meta = r.slice(0, r.indexOf('\t')).split(/ +/);
        const size = Number(meta[3]);
        if (Number.isFinite(size)) bytes += size;
        files += 1;
      }
      if (bytes > limits.maxBytes || files > limits.maxFiles) {
        over = new BuildError('build_failed', bytes > limits.maxBytes
          ? `the commit's files add up to more than ${formatSize(limits.maxBytes)} (the checkout limit; ${formatSize(bytes)} counted so far): keep build outputs and large data out of the repository`
          : `the commit has more than ${limits.maxFiles.toLocaleString('en-US')} files (the checkout limit): keep generated files out of the repository`,
        { bytes, files, limits });
        child.kill('SIGKILL');
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (c: string) => {
      if (stderr.length < 4096) stderr += c;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (over) return reject(over);
      if (code !== 0) return reject(new BuildError('build_failed', `could not list the commit's files: ${stderr.trim() || `git ls-tree exited ${code}`}`));
      resolve({ bytes, files });
    });
  });
}
