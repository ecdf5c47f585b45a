// What Summon's own files look like on disk, and the confinement a host starts with. The DATA
// directory is 0700 (nothing inside it is reachable by another user, whatever its own mode),
// its database and logs 0600, and the keys (admin.token, agent.token, master.key) 0400.
import { chmod, mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidInputError } from '../core/errors.js';
import type { Logger } from '../logging/logger.js';
import { Confiner } from './confine.js';
import type { UidRange } from './uids.js';

export const KEY_FILES = ['admin.token', 'agent.token', 'master.key'];
const DB_FILES = ['summon.db', 'summon.db-wal', 'summon.db-shm', 'summon.db-journal'];

async function chmodIfThere(file: string, mode: number): Promise<void> {
  try {
    const st = await stat(file);
    if ((st.mode & 0o777) !== mode) await chmod(file, mode);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

/** Makes DATA 0700 (creating it), before anything is written into it. */
export async function makeDataDir(dataDir: string): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await chmod(dataDir, 0o700);
}

/** Tightens the modes of what is in DATA: keys 0400, the database and the logs 0600. */
export async function tightenDataDir(dataDir: string): Promise<void> {
  for (const f of KEY_FILES) await chmodIfThere(join(dataDir, f), 0o400);
  for (const f of DB_FILES) await chmodIfThere(join(dataDir, f), 0o600);
  const logs = join(dataDir, 'logs');
  const entries = await readdir(logs, { withFileTypes: true }).catch(() => []);
  await chmodIfThere(logs, 0o700);
  for (const e of entries) if (e.isFile()) await chmodIfThere(join(logs, e.name), 0o600);
}

export interface ConfinementOptions {
  /** `--unconfined`: run builds and process instances as Summon's own user (development only). */
  unconfined?: boolean;
  uidRange?: UidRange;
  logger?: Logger;
  /** Units not reaped: the instances a previous run left running that this start adopts. */
  keepUnits?: ReadonlySet<string>;
}

/**
 * The host's confinement (isolation/confine.ts), with what a crashed run left in its cgroups
 * reaped (and said: builds' units are named `build-…`); no confiner when `unconfined`. Refuses to start when confinement is wanted but this
 * host cannot give it, naming why and what to do.
 */
export async function openConfinement(dataDir: string, o: ConfinementOptions): Promise<{ confiner?: Confiner; reaped: { unit: string; processes: number }[] }> {
  if (o.unconfined) {
    o.logger?.warn('running unconfined (--unconfined): builds and process instances run as Summon\'s own user and can read its keys; for development only');
    return { reaped: [] };
  }
  const c = await Confiner.create(dataDir, o.uidRange ? { uidRange: o.uidRange } : {});
  if ('unavailable' in c) {
    throw new InvalidInputError(`cannot confine builds and instances on this host: ${c.unavailable}. Fix that (scripts/setup.sh installs what is needed; run as root), or pass --unconfined to run them unconfined (development only: pushed code can then read Summon's keys)`);
  }
  const missing = (['memory', 'pids'] as const).filter((k) => !c.cgroups.has(k));
  if (missing.length > 0) {
    throw new InvalidInputError(`cannot confine builds and instances on this host: no ${missing.join(' or ')} cgroup controller is mounted where this process can see it (/proc/self/mountinfo; under \`ip netns exec\`, which remounts /sys, use \`nsenter --net=\` instead). Mount the cgroup hierarchies, or pass --unconfined (development only)`);
  }
  const keep = o.keepUnits;
  const reaped = await c.reap(keep ? (u) => keep.has(u) : undefined);
  if (reaped.length > 0) o.logger?.warn({ units: reaped }, 'killed what a previous run left in its cgroups');
  return { confiner: c, reaped };
}
