// The shape of a desired set as it crosses the agent protocol: checked at the agent's door,
// so a malformed PUT is refused with what is wrong instead of failing later in a launch.
import { z } from 'zod';
import { TARGETS } from '../core/manifest.js';
import { APP_NAME_RE } from '../core/names.js';
import type { DesiredInstance } from './agent.js';

const SHA256 = /^[0-9a-f]{64}$/;

const health = z.object({
  kind: z.enum(['http', 'tcp']),
  path: z.string().startsWith('/').optional(),
  intervalMs: z.number().int().positive(),
  timeoutMs: z.number().int().positive(),
  healthyThreshold: z.number().int().positive(),
  unhealthyThreshold: z.number().int().positive(),
  graceMs: z.number().int().nonnegative(),
});

const desiredInstance = z.object({
  id: z.string().regex(/^[a-z][a-z0-9-]{0,63}$/),
  app: z.string().regex(APP_NAME_RE),
  version: z.number().int().positive(),
  target: z.enum(TARGETS),
  artifactSha256: z.string().regex(SHA256),
  initrdSha256: z.string().regex(SHA256).nullable(),
  args: z.array(z.string()),
  env: z.record(z.string(), z.string()),
  guestPort: z.number().int().min(1).max(65535),
  memoryBytes: z.number().int().positive(),
  cpu: z.number().positive().max(64).optional(),
  cmdline: z.string().optional(),
  network: z.enum(['tap', 'user']).optional(),
  health,
});

export const desiredSetSchema = z.object({ instances: z.array(desiredInstance) });

/** The desired set in a PUT /v1/desired body, or an Error naming the first thing wrong. */
export function parseDesiredSet(body: unknown): DesiredInstance[] | Error {
  const r = desiredSetSchema.safeParse(body);
  if (r.success) return r.data.instances as DesiredInstance[];
  const issue = r.error.issues[0];
  return new Error(`desired set: ${issue.path.join('.') || '(body)'}: ${issue.message}`);
}
