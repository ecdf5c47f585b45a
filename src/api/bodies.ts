// Request bodies, checked by schema at the API's edge before a route reads them: a value of the
// wrong type is refused naming the field, never coerced (regression: {"name":["hello"]} read
// as "hello", {"count":[3]} as 3). Unknown fields are refused too, so a typo is not ignored.
import { z } from 'zod';
import { InvalidInputError } from '../core/errors.js';

export const createAppBody = z.strictObject({ name: z.string() });

export const rollbackBody = z.strictObject({
  version: z.union([z.number().int().min(1), z.string().regex(/^v?[1-9]\d*$/, 'write the version as vN or N'), z.null()]).optional(),
});

export const configBody = z.strictObject({
  set: z.record(z.string(), z.string({ error: 'config values must be strings' })).optional(),
  unset: z.array(z.string()).optional(),
});

export const scaleBody = z.strictObject({ count: z.number().int().min(0).max(1000) });

export const autoscaleBody = z.strictObject({
  min: z.number().int().min(0).max(1000).optional(),
  max: z.number().int().min(1).max(1000).optional(),
  /** A fraction (0.8) or a percentage (80). */
  targetCpu: z.number().min(0.01).max(100).optional(),
  /** A duration ("30s") or milliseconds. */
  idleTimeout: z.union([z.string(), z.number().min(0)]).optional(),
});

export const webhookBody = z.strictObject({
  url: z.unknown(),
  events: z.unknown().optional(),
});

/** Parses `body` (undefined for an empty one) or throws InvalidInputError naming the field. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown, what: string): z.infer<S> {
  const r = schema.safeParse(body ?? {});
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const field = issue.path.length ? issue.path.map(String).join('.') : null;
  const reason = issue.code === 'unrecognized_keys'
    ? `unknown field ${JSON.stringify((issue as { keys: string[] }).keys[0])}`
    : `${field ?? 'the body'}: ${issue.message}`;
  throw new InvalidInputError(`${what}: ${reason}`, { field, issue: issue.code });
}
