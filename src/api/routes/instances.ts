// API routes for instances: list, scale, autoscale policy, rolling restart.
import type { FastifyInstance } from 'fastify';
import { InvalidInputError } from '../../core/errors.js';
import { DURATION_LIMITS } from '../../core/manifest.js';
import { parseDuration } from '../../core/units.js';
import { route } from '../route.js';
import type { ApiContext } from '../context.js';

export function registerInstanceRoutes(fastify: FastifyInstance, c: ApiContext): void {
  const { d, view, appParam, requireApp, streamed } = c;
  // ---- instances and scale ----
  route(fastify, 'listInstances', async (req) => {
    const name = appParam(req);
    await requireApp(name);
    return d.controller.instances(name);
  });
  route(fastify, 'scale', async (req) => {
    const name = appParam(req);
    const { count } = req.body;
    await d.controller.scale(name, count);
    return view(name);
  });
  route(fastify, 'autoscale', async (req) => {
    const name = appParam(req);
    const b = req.body;
    const cur = d.controller.policy(name);
    const num = (k: string, v: unknown, fallback: number, lo: number, hi: number): number => {
      if (v === undefined) return fallback;
      const n = Number(v);
      if (!Number.isFinite(n) || n < lo || n > hi) throw new InvalidInputError(`${k} must be a number between ${lo} and ${hi}, got ${String(v)}`);
      return n;
    };
    let targetCpu = num('target-cpu', b.targetCpu, cur.targetCpu, 0.01, 100);
    if (targetCpu > 1) targetCpu /= 100; // "80" means 80 %
    let idle = cur.idleTimeoutMs;
    if (b.idleTimeout !== undefined) {
      const ms = typeof b.idleTimeout === 'number' ? b.idleTimeout : parseDuration(String(b.idleTimeout));
      const { min, max } = DURATION_LIMITS['scale.idle_timeout'];
      if (ms === undefined || ms < min || ms > max) throw new InvalidInputError(`idle-timeout must be a duration from 1s to 168h like "30s" or "5m", got ${String(b.idleTimeout)}`);
      idle = ms;
    }
    const policy = {
      min: Math.trunc(num('min', b.min, cur.min, 0, 1000)),
      max: Math.trunc(num('max', b.max, cur.max, 1, 1000)),
      targetCpu, idleTimeoutMs: idle,
    };
    await d.controller.setPolicy(name, policy);
    return view(name);
  });
  route(fastify, 'restart', async (req, reply) => {
    const name = appParam(req);
    await requireApp(name);
    return streamed(reply, async (out) => {
      out(`-----> Restarting ${name}`);
      const r = await d.controller.restart(name);
      return r.ok ? { ok: true, message: 'restarted' } : { ok: false, message: r.reason };
    });
  });
}
