// How the dashboard writes times, sizes and states: one place, shared by every component.
// Pure (no DOM), so its unit test (format.test.ts) runs under node with the other unit tests.
import type { AppView, HostView, Instance, ReleaseView, SeriesPoint } from '../sdk/client.js';

export const POLL_MS = 2000;
export const HOUR_MS = 3_600_000;
export const MIB = 2 ** 20;

type Maybe<T> = T | null | undefined;

/** How long ago `ms` was: 42s, 3m 5s, 2h 10m, 4d. */
export function ago(ms: Maybe<number>, now = Date.now()): string {
  if (ms === null || ms === undefined) return '–';
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d`;
}
/** Memory in MiB (2^20 bytes), labelled so: summon.toml's 128M is 128 MiB too. */
export const mib = (b: Maybe<number>): string => (b === null || b === undefined ? '–' : `${(b / MIB).toFixed(1)} MiB`);
export const pct = (c: Maybe<number>): string => (c === null || c === undefined ? '–' : `${(c * 100).toFixed(1)}%`);
export const short = (s: Maybe<string>, n = 12): string => (s ? String(s).slice(0, n) : '–');
export const bytes = (n: number): string => (n >= MIB ? `${(n / MIB).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`);
/** A span of time as a heading says it: 40 s, 4 min, 2 h 5 min, 3 d. */
export function span(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 90) return `${s} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.floor(s / 3600)} h${s % 3600 >= 60 ? ` ${Math.floor((s % 3600) / 60)} min` : ''}`;
  return `${Math.floor(s / 86400)} d`;
}
/** The charts' heading for these points: the span the last hour's samples cover, "Last hour" once they cover it. */
export function chartSpan(points: readonly Pick<SeriesPoint, 'at'>[], now = Date.now()): string {
  const recent = points.filter((p) => p.at >= now - HOUR_MS);
  if (recent.length === 0) return 'No samples yet';
  const covered = now - Math.min(...recent.map((p) => p.at));
  return covered >= HOUR_MS - 60_000 ? 'Last hour' : `Last ${span(covered)}`;
}
/** A duration in milliseconds as summon.toml writes it: 30s, 5m, 2h. */
export function duration(ms: number): string {
  if (ms === 0) return 'never';
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${ms / 1000}s`;
}
export const num = (x: number): string => (Math.round(x * 10) / 10).toLocaleString('en-US');

/** A badge's tone: ok (green), warn (yellow), bad (red), '' (grey). */
export type Tone = 'ok' | 'warn' | 'bad' | '';
export const APP_TONE: Record<AppView['state'], Tone> = { running: 'ok', deploying: 'warn', starting: 'warn', crashed: 'bad', idle: '', 'no-release': '' };
export const INSTANCE_TONE: Record<Instance['state'], Tone> = { healthy: 'ok', starting: 'warn', pending: 'warn', draining: 'warn', unhealthy: 'bad', crashed: 'bad', stopped: '' };
export const RELEASE_TONE: Record<ReleaseView['status'], Tone> = { live: 'ok', failed: 'bad', building: 'warn', testing: 'warn', deploying: 'warn', ready: '', superseded: '' };

/**
 * The badge an app shows. An app whose every release failed has no live one (its state is
 * no-release), yet it is not merely empty: its newest release's failure makes it red.
 */
export function appBadge(state: AppView['state'], newest: Pick<ReleaseView, 'status' | 'reason'> | null | undefined): { label: string; tone: Tone; title: string | undefined } {
  if (state === 'no-release' && newest?.status === 'failed') return { label: 'failed', tone: 'bad', title: newest.reason ?? undefined };
  return { label: state, tone: APP_TONE[state], title: undefined };
}
export const LINK_TONE: Record<HostView['link'], Tone> = { local: 'ok', connected: 'ok', unreachable: 'bad' };
