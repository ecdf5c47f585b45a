// Which notification types an event stands for. A crash is an ordinary event; the third
// restart in a row of the same instance is a crash loop, which is what operators want to hear about.
import type { SummonEvent } from '../core/types.js';

export const CRASHLOOP_RESTARTS = 3;
export const DEFAULT_WEBHOOK_EVENTS = ['release.live', 'release.failed', 'instance.crashloop', 'scale.max', 'cert.failed'];
/** Events about notifications themselves are never notified (no loops). */
const SILENT = /^(webhook|notify|email)\./;

export function notificationTypes(e: SummonEvent): string[] {
  if (SILENT.test(e.type)) return [];
  const types = [e.type];
  if (e.type === 'instance.crashed' && Number(e.data.restarts) >= CRASHLOOP_RESTARTS) types.push('instance.crashloop');
  return types;
}

/** `*` matches everything, `release.*` every release event, otherwise the exact type. */
export function eventMatches(pattern: string, type: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('.*')) return type.startsWith(pattern.slice(0, -1));
  return pattern === type;
}

export const EVENT_PATTERN = /^(\*|[a-z][a-z0-9_]*\.(\*|[a-z][a-z0-9_]*))$/;
