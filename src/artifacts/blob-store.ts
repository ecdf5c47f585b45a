// Content-addressed blob store: every artifact lives under dir/ab/abcdef… (its sha256).
// Blobs are written to a temp file, fsynced and renamed into place, so a crash never
// leaves a half-written blob under its final name. They are stored read-only and
// executable (0o555: nobody may write them, a process-target artifact is exec'd straight
// from the store) in directories only their owner may write (0o755). Before an instance
// starts, the agent checks the blob against its release's digest (verify.ts).
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { join, isAbsolute } from 'node:path';
import { InvalidInputError } from '../core/errors.js';
import { sha256File } from './verify.js';

const SHA256_RE = /^[0-9a-f]{64}$/;

export interface BlobStoreOptions {
  dir: string;
}

export interface StoredBlob {
  sha256: string;
  size: number;
}

export class BlobStore {
  readonly dir: string;

  constructor(opts: BlobStoreOptions) {
    if (!opts || typeof opts.dir !== 'string' || !isAbsolute(opts.dir)) {
      throw new InvalidInputError('BlobStore: dir must be an absolute path', { key: 'dir' });
    }
    this.dir = opts.dir;
  }

  /** Where the blob with this digest lives (whether or not it exists). */
  path(sha256: string): string {
    if (!SHA256_RE.test(sha256)) throw new InvalidInputError(`not a sha256 digest: ${JSON.stringify(sha256)}`);
    return join(this.dir, sha256.slice(0, 2), sha256);
  }

  async has(sha256: string): Promise<boolean> {
    try {
      const st = await stat(this.path(sha256));
      return st.isFile();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
  }

  /** Copies `file` into the store; putting the same content twice is a no-op (unless the
   *  stored copy no longer has that content: then it is replaced). With `expect`, content of
   *  another digest is refused and nothing is stored. */
  async put(file: string, opts: { expect?: string } = {}): Promise<StoredBlob> {
    await this.mkdirs(join(this.dir, 'tmp'));
    // Hash while copying so the file is read once and the digest matches what was written,
    // even if the source changes underneath us.
    const tmp = join(this.dir, 'tmp', `${process.pid}-${randomBytes(6).toString('hex')}`);
    const hash = createHash('sha256');
    let size = 0;
    const out = await open(tmp, 'wx', 0o600);
    try {
      try {
        for await (const chunk of createReadStream(file)) {
          const buf = chunk as Buffer;
          hash.update(buf);
          size += buf.length;
          let off = 0;
          while (off < buf.length) {
            const { bytesWritten } = await out.write(buf, off, buf.length - off);
            off += bytesWritten;
          }
        }
        await out.sync();
      } finally {
        await out.close();
      }
      const sha256 = hash.digest('hex');
      if (opts.expect !== undefined && sha256 !== opts.expect) {
        throw new InvalidInputError(`blob has sha256 ${sha256.slice(0, 12)}…, not the ${opts.expect.slice(0, 12)}… it was stored as: refused`);
      }
      const final = this.path(sha256);
      // An existing copy is kept only if it still has its content: one altered in the store
      // is replaced by the fresh copy (rename is atomic; a running instance keeps its inode).
      if (await this.has(sha256) && await sha256File(final).then((h) => h === sha256, () => false)) {
        await rm(tmp, { force: true });
        return { sha256, size };
      }
      await chmod(tmp, 0o555);
      await this.mkdirs(join(this.dir, sha256.slice(0, 2)));
      await rename(tmp, final);
      await fsyncDir(join(this.dir, sha256.slice(0, 2)));
      return { sha256, size };
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
  }

  /** Makes the store's directories 0o755 whatever the umask: only their owner adds or
   *  replaces blobs. */
  private async mkdirs(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true, mode: 0o755 });
    for (const d of [this.dir, dir]) {
      const st = await stat(d);
      if ((st.mode & 0o022) !== 0) await chmod(d, st.mode & 0o755);
    }
  }
}

/** Makes the rename durable: the directory entry is on disk, not only the data. */
async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } catch {
    // Some filesystems refuse fsync on directories; the data itself is already synced.
  } finally {
    await fh.close();
  }
}
