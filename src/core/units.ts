// Durations ("500ms", "10s", "5m", "1h") and sizes ("128M", "1G") as written in summon.toml and flags.

const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const DURATION_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Returns milliseconds, or undefined if the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION_RE.exec(text.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * DURATION_MS[m[2]]);
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)}s`;
  const part = (n: number, unit: string) => (n ? `${n}${unit}` : '');
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)}m${part(Math.floor((ms % 60_000) / 1000), 's')}`;
  return `${Math.floor(ms / 3_600_000)}h${part(Math.floor((ms % 3_600_000) / 60_000), 'm')}`;
}

const SIZE_RE = /^(\d+)([KMG])i?B?$/i;
const SIZE_MUL: Record<string, number> = { K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** Returns bytes, or undefined if the text is not a size (or too large to count exactly). */
export function parseSize(text: string): number | undefined {
  const m = SIZE_RE.exec(text.trim());
  if (!m) return undefined;
  const bytes = Number(m[1]) * SIZE_MUL[m[2].toUpperCase()];
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** Bytes as the size syntax above writes them: "64K", "128M", "1.5G". */
export function formatSize(bytes: number): string {
  for (const [unit, mul] of [['G', 1024 ** 3], ['M', 1024 ** 2], ['K', 1024]] as const) {
    if (bytes >= mul) return `${Number((bytes / mul).toFixed(1))}${unit}`;
  }
  return `${bytes} bytes`;
}
