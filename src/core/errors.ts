// One error tree for the whole of Summon. Every error has a stable `code` (for
// scripts and the API) and a message that says what to do next. Edges map errors
// to HTTP statuses (`httpStatus`) and CLI exit codes (`exitCode`) in one place each.

export type ErrorCode =
  | 'invalid_input'
  | 'invalid_name'
  | 'invalid_manifest'
  | 'unauthorized'
  | 'forbidden'
  | 'rate_limited'
  | 'not_found'
  | 'conflict'
  | 'build_failed'
  | 'test_failed'
  | 'deploy_failed'
  | 'runtime_unavailable'
  | 'capacity'
  | 'timeout'
  | 'internal';

const HTTP_STATUS: Record<ErrorCode, number> = {
  invalid_input: 400,
  invalid_name: 400,
  invalid_manifest: 422,
  unauthorized: 401,
  forbidden: 403,
  rate_limited: 429,
  not_found: 404,
  conflict: 409,
  build_failed: 422,
  test_failed: 422,
  deploy_failed: 422,
  runtime_unavailable: 422,
  capacity: 503,
  timeout: 504,
  internal: 500,
};

const EXIT_CODE: Record<ErrorCode, number> = {
  invalid_input: 2,
  invalid_name: 2,
  invalid_manifest: 3,
  unauthorized: 4,
  not_found: 5,
  conflict: 6,
  build_failed: 7,
  test_failed: 7,
  deploy_failed: 8,
  runtime_unavailable: 8,
  capacity: 9,
  timeout: 10,
  forbidden: 11,
  rate_limited: 12,
  internal: 1,
};

export class SummonError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;
  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'SummonError';
    this.code = code;
    this.details = details;
  }
  get httpStatus(): number {
    return HTTP_STATUS[this.code];
  }
  get exitCode(): number {
    return EXIT_CODE[this.code];
  }
  toJSON(): { error: { code: ErrorCode; message: string; details?: Record<string, unknown> } } {
    return { error: { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) } };
  }
}

export class InvalidInputError extends SummonError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('invalid_input', message, details);
  }
}

export class InvalidNameError extends SummonError {
  constructor(what: string, value: string, rule: string) {
    super('invalid_name', `${what} ${JSON.stringify(value)} is not allowed: ${rule}`, { value, rule });
  }
}

/** A problem in summon.toml: names the file, the key and the reason. */
export class ManifestError extends SummonError {
  readonly file: string;
  readonly key: string;
  constructor(file: string, key: string, reason: string) {
    super('invalid_manifest', `${file}: ${key ? `${key}: ` : ''}${reason}`, { file, key, reason });
    this.file = file;
    this.key = key;
  }
}

export class UnauthorizedError extends SummonError {
  constructor(message = 'missing or invalid token: pass "Authorization: Bearer TOKEN" (see `summon auth:token`)') {
    super('unauthorized', message);
  }
}

/** A valid token that may not do this (its scope, its app, or its user's access). */
export class ForbiddenError extends SummonError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('forbidden', message, details);
  }
}

/** Too many failed authentications from one address: `retryAfterS` is the Retry-After header. */
export class RateLimitedError extends SummonError {
  readonly retryAfterS: number;
  constructor(message: string, retryAfterS: number) {
    super('rate_limited', message, { retryAfter: retryAfterS });
    this.retryAfterS = retryAfterS;
  }
}

export class NotFoundError extends SummonError {
  constructor(what: string, name: string, hint?: string) {
    super('not_found', `${what} ${JSON.stringify(name)} not found${hint ? `: ${hint}` : ''}`, { what, name });
  }
}

export class ConflictError extends SummonError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('conflict', message, details);
  }
}

export class BuildError extends SummonError {
  constructor(code: 'build_failed' | 'test_failed', message: string, details?: Record<string, unknown>) {
    super(code, message, details);
  }
}

export class DeployError extends SummonError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('deploy_failed', message, details);
  }
}

export class RuntimeUnavailableError extends SummonError {
  constructor(target: string, reason: string) {
    super('runtime_unavailable', `runtime ${target} is not available on this host: ${reason}`, { target, reason });
  }
}

export function isSummonError(e: unknown): e is SummonError {
  return e instanceof SummonError;
}

/** Turns anything thrown into a SummonError without losing the original message. */
export function toSummonError(e: unknown): SummonError {
  if (e instanceof SummonError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new SummonError('internal', msg);
}
