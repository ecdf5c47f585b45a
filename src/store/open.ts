// Picks the store backend from one URL (the --store / SUMMON_STORE setting).
import { InvalidInputError } from '../core/errors.js';
import { createPostgresStore } from './postgres.js';
import { createSqliteStore } from './sqlite.js';
import type { Store } from './store.js';

const ACCEPTED = 'sqlite:/path/to/summon.db, a plain file path, or postgres://user:password@host:5432/db (postgresql:// too)';

export type StoreLocation = { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string };

/** Parses a store URL without opening anything. */
export function parseStoreUrl(url: string): StoreLocation {
  if (typeof url !== 'string' || url.trim() === '') {
    throw new InvalidInputError(`store location is empty: use ${ACCEPTED}`);
  }
  if (/^postgres(ql)?:\/\//i.test(url)) return { kind: 'postgres', url };
  const m = /^sqlite:(.*)$/i.exec(url);
  if (m) {
    // sqlite:/abs, sqlite:rel and sqlite:///abs all name a file.
    const file = m[1].startsWith('//') ? m[1].slice(2) : m[1];
    if (file === '') throw new InvalidInputError(`store URL ${JSON.stringify(url)} names no file: use ${ACCEPTED}`);
    return { kind: 'sqlite', file };
  }
  // Anything with another scheme is a mistake, not a relative path.
  if (/^[a-z][a-z0-9+.-]*:/i.test(url)) {
    throw new InvalidInputError(`unsupported store URL ${JSON.stringify(url)}: use ${ACCEPTED}`);
  }
  return { kind: 'sqlite', file: url };
}

export async function openStore(url: string): Promise<Store> {
  const loc = parseStoreUrl(url);
  return loc.kind === 'postgres' ? createPostgresStore(loc.url) : createSqliteStore(loc.file);
}
