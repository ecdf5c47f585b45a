// What the two ways of delivering a drain (syslog over TCP/TLS, HTTPS POSTs) share: their
// options, the state they report, the backoff between attempts and how errors are put.
import type { Resolver } from '../notify/webhook-targets.js';
import type { DrainBuffer } from './drain-buffer.js';
import type { DrainTarget } from './drain-target.js';

/**
 * starting: no attempt has finished yet; up: connected (syslog) or the last POST was answered
 * 2xx (https); down: the last attempt failed, the next one waits for the backoff.
 */
export type DrainState = 'starting' | 'up' | 'down';

export interface DeliveryState {
  state: DrainState;
  since: number;
  lastError: string | null;
}

export interface DeliveryOptions {
  id: string;
  app: string;
  target: DrainTarget;
  buffer: DrainBuffer;
  allowPrivate: boolean;
  resolve: Resolver;
  /** Extra trusted CA certificates (PEM), beside the system's: `summon up --drain-ca`. */
  ca?: string;
  retryBaseMs: number;
  retryMaxMs: number;
  /** Connect (syslog) or whole-request (https) timeout. */
  timeoutMs: number;
  now: () => number;
  onState: (next: DeliveryState, prev: DeliveryState) => void;
}

export interface Delivery {
  readonly current: DeliveryState;
  start(): void;
  /** New lines are in the buffer. */
  kick(): void;
  /** Stops; what is pending gets one last try within `graceMs`. */
  close(graceMs: number): Promise<void>;
}

/** Delay before retry `attempt` (1-based): base, doubling, capped. */
export function backoffMs(attempt: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.min(30, Math.max(0, attempt - 1)));
}

const TLS_TRUST = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_ISSUER_CERT', 'CERT_UNTRUSTED',
]);

/** An error as a drain's status shows it, with what to do where Summon knows. */
export function describeError(e: unknown, t: DrainTarget): string {
  const err = e as NodeJS.ErrnoException;
  const msg = err?.message ?? String(e);
  const code = err?.code ?? '';
  if (TLS_TRUST.has(code)) return `TLS: ${msg} (the receiver's certificate is not signed by a CA Summon trusts; for a private CA start Summon with --drain-ca FILE)`;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return `TLS: ${msg} (the certificate does not name ${t.host})`;
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') return `TLS: ${msg}`;
  if (code === 'ECONNREFUSED') return `${t.host}:${t.port} refused the connection (is the receiver running?)`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `${t.host} does not resolve (${code})`;
  return msg;
}
