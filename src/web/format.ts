// How the dashboard writes times, sizes and states: one place, shared by every component.
import type { AppView, HostView, Instance, ReleaseView } from '../sdk/client.js';

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
export const mb = (b: Maybe<number>): string => (b === null || b === undefined ? '–' : `${(b / 1048576).toFixed(1)} MB`);
export const pct = (c: Maybe<number>): string => (c === null || c === undefined ? '–' : `${(c * 100).toFixed(1)}%`);
export const short = (s: Maybe<string>, n = 12): string => (s ? String(s).slice(0, n) : '–');
export const bytes = (n: number): string => (n >= 1048576 ? `${(n / 1048576).toFixed(1)} MB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KB` : `${n} B`);
export const num = (x: number): string => (Math.round(x * 10) / 10).toLocaleString('en-US');

/** A badge's tone: ok (green), warn (yellow), bad (red), '' (grey). */
export type Tone = 'ok' | 'warn' | 'bad' | '';
export const APP_TONE: Record<AppView['state'], Tone> = { running: 'ok', deploying: 'warn', starting: 'warn', crashed: 'bad', idle: '', 'no-release': '' };
export const INSTANCE_TONE: Record<Instance['state'], Tone> = { healthy: 'ok', starting: 'warn', pending: 'warn', draining: 'warn', unhealthy: 'bad', crashed: 'bad', stopped: '' };
export const RELEASE_TONE: Record<ReleaseView['status'], Tone> = { live: 'ok', failed: 'bad', building: 'warn', testing: 'warn', deploying: 'warn', ready: '', superseded: '' };
export const LINK_TONE: Record<HostView['link'], Tone> = { local: 'ok', connected: 'ok', unreachable: 'bad' };
