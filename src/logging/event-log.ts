// A named event as one log line: the event's type, app and data as fields, its message as the
// line's message. The level rule: warn when the event says something failed, was lost or gave
// up — its action (the part after the first dot) is, or ends in `_` and, one of the words below
// (release.failed, instance.crashed, instance.unhealthy, host.unreachable, webhook.failed,
// email.failed, router.upstream_error, router.hold_timeout, router.hold_full,
// api.stream_dropped, control.error); info for everything else (release.live, scale.max…).
import type { Logger } from './logger.js';

const FAILURE = /(^|_)(failed|error|crashed|crashloop|unreachable|lost|unhealthy|timeout|full|dropped|malformed)$/;

export function eventLevel(type: string): 'info' | 'warn' {
  const dot = type.indexOf('.');
  return FAILURE.test(dot < 0 ? type : type.slice(dot + 1)) ? 'warn' : 'info';
}

export interface LoggedEvent {
  type: string;
  app: string | null;
  message: string;
  data: Record<string, unknown>;
  /** When it happened, for an event reported late (a remote agent's, after a partition). */
  at?: number;
}

export function logEvent(logger: Logger, e: LoggedEvent): void {
  const fields = { type: e.type, app: e.app, data: e.data, ...(e.at !== undefined ? { eventAt: new Date(e.at).toISOString() } : {}) };
  logger[eventLevel(e.type)](fields, e.message);
}
