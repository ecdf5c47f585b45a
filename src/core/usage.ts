// Per-second economics: what `summon usage` and GET /api/usage accept and compute. Metering
// itself is the controller's (instance-seconds, and memory-seconds as each running instance's
// [run].memory reservation × its seconds, in MiB·s); this file holds the bounds and the cost.
import { InvalidInputError } from './errors.js';

const DAY = 86_400_000;
export const MAX_SINCE_MS = 3650 * DAY;
export const DEFAULT_SINCE = '30d';
/** The highest price per instance-second accepted (far above any real one: a typo guard). */
export const MAX_PRICE = 1000;

const SINCE_RE = /^(\d{1,7})(m|h|d)$/;
const UNIT: Record<string, number> = { m: 60_000, h: 3_600_000, d: DAY };

/** `--since`: minutes, hours or days back from now (90m, 12h, 30d), 1m to 3650d. */
export function parseSince(text: string): number {
  const m = SINCE_RE.exec(text.trim());
  const ms = m ? Number(m[1]) * UNIT[m[2]] : NaN;
  if (!m || ms < 60_000 || ms > MAX_SINCE_MS) {
    throw new InvalidInputError(`--since must be a time back from now like 30d, 12h or 90m (1m to 3650d), got ${JSON.stringify(text)}`, { field: 'since' });
  }
  return ms;
}

/** `--price-per-instance-second`: a number ≥ 0 (in the operator's currency), at most MAX_PRICE. */
export function checkPrice(v: unknown): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?\s*$/i.test(v) ? Number(v) : NaN;
  if (!Number.isFinite(n) || n < 0 || n > MAX_PRICE) {
    throw new InvalidInputError(`--price-per-instance-second must be a number from 0 to ${MAX_PRICE} (e.g. 0.000012), got ${JSON.stringify(v)}`, { field: 'price-per-instance-second' });
  }
  return n;
}

/** The UTC day (YYYY-MM-DD) of an instant: usage rows are per app and UTC day. */
export function dayOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** A cost rounded to a millionth of the currency unit (a price per second is small). */
export function costOf(instanceSeconds: number, price: number | null): number | null {
  return price === null ? null : Math.round(instanceSeconds * price * 1e6) / 1e6;
}
