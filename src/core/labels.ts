// Host labels (`region=eu-west`, `arch=aarch64`, `disk=ssd` …): given at join
// (`summon hosts:join-token --label k=v`), stored with the host, matched by placement against
// summon.toml's [scale].regions and [scale].host_labels.
import { InvalidInputError } from './errors.js';

export const LABEL_KEY_RE = /^[a-z][a-z0-9._-]{0,62}$/;
export const LABEL_VALUE_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
export const MAX_LABELS = 32;

/** Why a label is not one, or null. */
export function labelProblem(key: string, value: string): string | null {
  if (!LABEL_KEY_RE.test(key)) return `label key ${JSON.stringify(key)} must be a lower-case letter, then up to 62 of a-z 0-9 . _ -`;
  if (!LABEL_VALUE_RE.test(value)) return `label ${key}'s value ${JSON.stringify(value)} must be 1-63 of A-Z a-z 0-9 . _ - (a letter or digit first)`;
  return null;
}

/** `k=v` strings (repeated --label) → a label map; refused with the first wrong one. */
export function parseLabels(pairs: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new InvalidInputError(`--label ${JSON.stringify(p)}: write KEY=VALUE, e.g. --label region=eu-west`, { field: 'label' });
    const [k, v] = [p.slice(0, eq), p.slice(eq + 1)];
    const why = labelProblem(k, v);
    if (why) throw new InvalidInputError(`--label ${p}: ${why}`, { field: 'label' });
    out[k] = v;
  }
  if (Object.keys(out).length > MAX_LABELS) throw new InvalidInputError(`at most ${MAX_LABELS} labels per host, got ${Object.keys(out).length}`, { field: 'label' });
  return out;
}

/** A label map checked (from a request body or a stored row). */
export function checkLabels(labels: Record<string, string>): Record<string, string> {
  return parseLabels(Object.entries(labels).map(([k, v]) => `${k}=${v}`));
}

export function formatLabels(labels: Readonly<Record<string, string>>): string {
  return Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',') || '-';
}
