// The retry decision for a request whose upstream failed before answering: a pure function
// of what happened, so the rule is one table (retry.test.ts) rather than branches spread over
// the exchange. A refused connect has sent nothing (the body is only read once connected), so
// it is always retried; a GET or HEAD whose connection was reset before any response is retried
// once; anything whose request may have been acted on is not.

/** Connect-time failures: nothing reached the app. */
export const CONNECT_ERRORS: ReadonlySet<string> = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN']);
/** The connection went away after the request was sent. */
export const RESET_ERRORS: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

/** Whether the failure happened while connecting (the upstream is then avoided for a while). */
export function isConnectFailure(err: { code?: string | undefined; syscall?: string | undefined }): boolean {
  return err.syscall === 'connect' || CONNECT_ERRORS.has(err.code ?? 'EUNKNOWN');
}

export interface RetryInput {
  /** Attempts made so far, this one included. */
  attempts: number;
  maxAttempts: number;
  /** isConnectFailure() of the error. */
  connectFailed: boolean;
  /** The error's code (EUNKNOWN when it had none). */
  code: string;
  method: string | undefined;
  /** Some of the request body was sent upstream. */
  bodyStarted: boolean;
  /** A reset was already retried for this request. */
  resetRetried: boolean;
}

export type RetryDecision =
  | { retry: true; /** this retry is the one allowed after a reset */ reset: boolean }
  | { retry: false; /** why not, for the 502's body */ why: string };

export function retryDecision(i: RetryInput): RetryDecision {
  if (i.attempts >= i.maxAttempts) return { retry: false, why: `It was tried ${i.attempts} times.` };
  if (i.connectFailed) return { retry: true, reset: false };
  if (i.bodyStarted || (i.method !== 'GET' && i.method !== 'HEAD')) {
    return { retry: false, why: `A ${i.method} whose request was sent is not retried, since the app may have acted on it.` };
  }
  if (i.resetRetried) return { retry: false, why: 'It was already retried once.' };
  if (RESET_ERRORS.has(i.code)) return { retry: true, reset: true };
  return { retry: false, why: 'This kind of failure is not retried.' };
}
