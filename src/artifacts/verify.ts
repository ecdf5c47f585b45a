// Artifact integrity: before an instance starts, its artifact (and initrd) in the blob store
// must still hash to the digest its release recorded. Hashing a 100 MB image on every restart
// would cost a second or more, so a verdict is kept per file, keyed by what the kernel says
// about it: device, inode, size, mtime and ctime (nanoseconds). Rewriting the file in place
// changes ctime even when the writer puts mtime back with utimes(2), and replacing it changes
// the inode, so either makes the next check hash again. A file changed so recently that a
// later write could land in the same timestamp tick is never cached ("racy", as git calls it).
import { createHash } from 'node:crypto';
import { createReadStream, statSync, type BigIntStats } from 'node:fs';
import { open, stat } from 'node:fs/promises';

export type Verdict =
  | { ok: true; sha256: string }
  | { ok: false; kind: 'missing'; expected: string; path: string; detail: string }
  | { ok: false; kind: 'altered'; expected: string; actual: string; path: string };

export interface VerifierOptions {
  /** Hashes a file (tests count the calls); default sha256 through a read stream. */
  hash?: (path: string, fd?: number) => Promise<string>;
  /** Files whose ctime is newer than now − racyMs are not cached (default 2 s: coarse
   *  filesystem clocks, FAT's 2 s mtime). */
  racyMs?: number;
  now?: () => number;
  /** Entries kept (oldest dropped first). */
  maxEntries?: number;
}

interface Entry {
  key: string;
  expected: string;
  verdict: Verdict;
}

/** sha256 of a file, read once; from `fd` when given (it is not closed). */
export async function sha256File(path: string, fd?: number): Promise<string> {
  const h = createHash('sha256');
  const stream = fd === undefined ? createReadStream(path) : createReadStream(path, { fd, autoClose: false, start: 0 });
  for await (const chunk of stream) h.update(chunk as Buffer);
  return h.digest('hex');
}

function keyOf(st: BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}

function short(sha: string): string {
  return `${sha.slice(0, 12)}…`;
}

/** One line saying what is wrong with a file, e.g. "artifact of v3 altered: sha256 ab12…≠cd34…". */
export function describeVerdict(v: Exclude<Verdict, { ok: true }>, what: string): string {
  return v.kind === 'missing'
    ? `${what} missing: sha256 ${short(v.expected)} is not in the blob store (${v.detail})`
    : `${what} altered: sha256 ${short(v.actual)}≠${short(v.expected)}`;
}

export class ArtifactVerifier {
  private readonly cache = new Map<string, Entry>();
  private readonly inFlight = new Map<string, Promise<Verdict>>();
  private readonly hash: (path: string, fd?: number) => Promise<string>;
  private readonly racyMs: number;
  private readonly now: () => number;
  private readonly maxEntries: number;

  constructor(opts: VerifierOptions = {}) {
    this.hash = opts.hash ?? sha256File;
    this.racyMs = opts.racyMs ?? 2000;
    this.now = opts.now ?? Date.now;
    this.maxEntries = opts.maxEntries ?? 10_000;
  }

  /** The verdict cached for this file as it is now, without hashing (one stat), or null when
   *  it has to be hashed. Synchronous, so a cold start's spawn does not wait on the thread pool. */
  cached(path: string, expected: string): Verdict | null {
    let st: BigIntStats;
    try {
      st = statSync(path, { bigint: true });
    } catch {
      return null;
    }
    const e = this.cache.get(path);
    return e && e.expected === expected && e.key === keyOf(st) ? e.verdict : null;
  }

  /** Whether the file at `path` has the sha256 `expected`: from the cache when the file has
   *  not changed since it was last hashed, else hashed now. Never throws for a missing file. */
  async verify(path: string, expected: string): Promise<Verdict> {
    const hit = this.cached(path, expected);
    if (hit) return hit;
    const k = `${path}\n${expected}`;
    let p = this.inFlight.get(k);
    if (!p) {
      p = this.check(path, expected).finally(() => this.inFlight.delete(k));
      this.inFlight.set(k, p);
    }
    return p;
  }

  /** Drops what is known about a file (it is about to be replaced). */
  forget(path: string): void {
    this.cache.delete(path);
  }

  private async check(path: string, expected: string): Promise<Verdict> {
    let fh;
    try {
      fh = await open(path, 'r');
    } catch (e) {
      this.cache.delete(path);
      const code = (e as NodeJS.ErrnoException).code ?? 'error';
      return { ok: false, kind: 'missing', expected, path, detail: code === 'ENOENT' ? `no file ${path}` : `${path}: ${(e as Error).message}` };
    }
    try {
      // Keyed by the file that is hashed (the open descriptor), so a rename racing the open
      // cannot give one file's verdict to another.
      const before = await fh.stat({ bigint: true });
      if (!before.isFile()) return { ok: false, kind: 'missing', expected, path, detail: `${path} is not a regular file` };
      const actual = await this.hash(path, fh.fd);
      const verdict: Verdict = actual === expected ? { ok: true, sha256: actual } : { ok: false, kind: 'altered', expected, actual, path };
      const after = await stat(path, { bigint: true }).catch(() => null);
      const key = keyOf(before);
      // Cached only when the path still names the file hashed, unchanged while it was read,
      // and last changed long enough ago that a new write must get a later ctime.
      const racy = Number(before.ctimeNs / 1_000_000n) > this.now() - this.racyMs;
      if (after && keyOf(after) === key && !racy) {
        this.cache.delete(path);
        this.cache.set(path, { key, expected, verdict });
        if (this.cache.size > this.maxEntries) this.cache.delete(this.cache.keys().next().value!);
      } else {
        this.cache.delete(path);
      }
      return verdict;
    } finally {
      await fh.close();
    }
  }
}
