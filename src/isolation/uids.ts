// One unprivileged uid/gid per app on this host, allocated by Summon from a range no login
// user has, recorded in DATA/uids.json (0600) and reused: an app's builds and instances run
// as that user, so they cannot read Summon's files or another app's, nor signal its processes.
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidInputError } from '../core/errors.js';

export interface UidRange { first: number; count: number }

/** Above the ranges Debian gives login users (1000–59999) and subordinate ids (100000–165535 for the first ones). */
export const DEFAULT_UID_RANGE: UidRange = { first: 520_000, count: 65_536 };

export function parseUidRange(text: string): UidRange {
  const m = /^(\d+)-(\d+)$/.exec(text.trim());
  const first = m ? Number(m[1]) : NaN;
  const last = m ? Number(m[2]) : NaN;
  if (!m || first < 1000 || last < first || last > 4_294_967_294) {
    throw new InvalidInputError(`--uid-range ${JSON.stringify(text)} is not FIRST-LAST with 1000 ≤ FIRST ≤ LAST < 4294967295 (for example 520000-585535)`);
  }
  return { first, count: last - first + 1 };
}

interface UidFile { range: UidRange; apps: Record<string, number> }

export class UidAllocator {
  private state: Promise<UidFile> | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly file: string;

  constructor(dataDir: string, private readonly range: UidRange = DEFAULT_UID_RANGE) {
    this.file = join(dataDir, 'uids.json');
  }

  /** The app's uid (= its gid), allocated on first use. */
  uidFor(app: string): Promise<number> {
    const next = this.chain.then(async () => {
      const s = await this.load();
      const known = s.apps[app];
      if (known !== undefined) return known;
      const used = new Set(Object.values(s.apps));
      for (let i = 0; i < this.range.count; i++) {
        const uid = this.range.first + i;
        if (!used.has(uid)) {
          s.apps[app] = uid;
          await this.save(s);
          return uid;
        }
      }
      throw new InvalidInputError(`every uid in ${this.range.first}-${this.range.first + this.range.count - 1} is taken: widen --uid-range`);
    });
    this.chain = next.catch(() => undefined);
    return next;
  }

  private load(): Promise<UidFile> {
    this.state ??= readFile(this.file, 'utf8').then(
      (t) => {
        const parsed = JSON.parse(t) as UidFile;
        return { range: this.range, apps: parsed.apps ?? {} };
      },
      (e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') return { range: this.range, apps: {} };
        throw e;
      },
    );
    return this.state;
  }

  private async save(s: UidFile): Promise<void> {
    const tmp = `${this.file}.tmp`;
    await writeFile(tmp, JSON.stringify(s, null, 2), { mode: 0o600 });
    await rename(tmp, this.file);
  }
}
