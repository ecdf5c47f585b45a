// What every command gets: the API client from the saved login, and plain output helpers.
import { SummonError } from '../core/errors.js';
import { SummonClient } from '../sdk/client.js';
import { loadLogin } from './login-file.js';

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  env: NodeJS.ProcessEnv;
}

export async function client(io: Io): Promise<SummonClient> {
  const login = await loadLogin(io.env);
  if (!login.api || !login.token) {
    throw new SummonError('unauthorized', 'not logged in: start Summon with `summon up` (it logs you in), or run `summon login --api URL --token TOKEN`, or set SUMMON_API and SUMMON_TOKEN');
  }
  return new SummonClient({ api: login.api, token: login.token });
}

/** A plain column printer: left-aligned, two spaces apart, header in upper case. */
export function table(rows: Record<string, unknown>[], columns: string[]): string {
  const cells = [columns.map((c) => c.toUpperCase()), ...rows.map((r) => columns.map((c) => fmt(r[c])))];
  const widths = columns.map((_, i) => Math.max(...cells.map((row) => row[i].length)));
  return cells.map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd()).join('\n');
}

function fmt(v: unknown): string {
  if (v === null || v === undefined) return '-';
  return String(v);
}

export function ago(ms: number | null, now = Date.now()): string {
  if (ms === null) return '-';
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d`;
}

export function parseVersion(v: string): number {
  const n = Number(v.replace(/^v/, ''));
  if (!Number.isInteger(n) || n < 1) throw new SummonError('invalid_input', `release must be written vN or N (e.g. v3), got ${JSON.stringify(v)}`);
  return n;
}

export function json(io: Io, v: unknown): void {
  io.out(JSON.stringify(v, null, 2));
}
