// Per-second economics and rightsizing:
//   GET /api/usage?app=NAME&since=30d   instance-seconds and memory-seconds per app and UTC day,
//                                       and a cost when `summon up --price-per-instance-second`
//                                       is set (today's row includes what is not flushed yet)
//   GET /api/apps/:app/advice           rightsizing advice from the last day's observations
// Their query and answer shapes are zod schemas in sdk/types.ts (UsageQuery, UsageView,
// AdviceView), registered through the contract (api/contract.ts).
import type { FastifyInstance } from 'fastify';
import { ForbiddenError, NotFoundError } from '../core/errors.js';
import { checkAppName } from '../core/names.js';
import { adviseRightsizing } from '../core/rightsizing.js';
import { costOf, dayOf, DEFAULT_SINCE, parseSince } from '../core/usage.js';
import type { Controller } from '../control/controller.js';
import type { Store } from '../store/store.js';
import type { AdviceView, UsageView } from '../sdk/types.js';
import { sees } from './guard.js';
import { route } from './route.js';

export type { AdviceView, UsageDay, UsageView } from '../sdk/types.js';

export interface UsageRouteDeps {
  store: Store;
  controller: Controller;
  /** `summon up --price-per-instance-second`; null: no cost is shown. */
  pricePerInstanceSecond: number | null;
  /** Least observed time before advice other than for OOM kills (default 1 h; tests shorten it). */
  adviceMinWindowMs?: number;
  now: () => number;
}

export function registerUsageRoutes(fastify: FastifyInstance, d: UsageRouteDeps): void {
  const price = d.pricePerInstanceSecond;

  route(fastify, 'usage', async (req): Promise<UsageView> => {
    const q = req.query;
    const sinceMs = parseSince(q.since ?? DEFAULT_SINCE);
    const app = q.app !== undefined ? checkAppName(q.app) : undefined;
    if (app !== undefined) {
      if (!(await d.store.getApp(app))) throw new NotFoundError('app', app, 'see `summon apps`');
      if (!sees(req, app)) throw new ForbiddenError(`this token does not reach ${app}: ask an admin for access (\`summon access:add -a ${app} EMAIL\`)`);
    }
    const now = d.now();
    const from = dayOf(now - sinceMs);
    const to = dayOf(now);
    const rows = (await d.store.listUsage({ fromDay: from, ...(app !== undefined ? { app } : {}) })).filter((r) => sees(req, r.app));
    // What the controller metered since its last flush belongs to today.
    const names = app !== undefined ? [app] : (await d.store.listApps()).map((a) => a.name).filter((n) => sees(req, n));
    for (const name of names) {
      const u = d.controller.app(name) ? d.controller.unflushedMetering(name) : { instanceSeconds: 0, memoryMibSeconds: 0 };
      if (u.instanceSeconds <= 0 && u.memoryMibSeconds <= 0) continue;
      const today = rows.find((r) => r.app === name && r.day === to);
      if (today) {
        today.instanceSeconds += u.instanceSeconds;
        today.memoryMibSeconds += u.memoryMibSeconds;
      } else {
        rows.push({ app: name, day: to, ...u });
      }
    }
    rows.sort((a, b) => a.app.localeCompare(b.app) || a.day.localeCompare(b.day));
    const round = (x: number) => Math.round(x * 1000) / 1000;
    const days = rows.map((r) => ({
      app: r.app, day: r.day, instanceSeconds: round(r.instanceSeconds), memoryMibSeconds: round(r.memoryMibSeconds), cost: costOf(r.instanceSeconds, price),
    }));
    const totals = new Map<string, { instanceSeconds: number; memoryMibSeconds: number }>();
    for (const r of rows) {
      const t = totals.get(r.app) ?? { instanceSeconds: 0, memoryMibSeconds: 0 };
      t.instanceSeconds += r.instanceSeconds;
      t.memoryMibSeconds += r.memoryMibSeconds;
      totals.set(r.app, t);
    }
    return {
      from, to, pricePerInstanceSecond: price, days,
      totals: [...totals].map(([a, t]) => ({ app: a, instanceSeconds: round(t.instanceSeconds), memoryMibSeconds: round(t.memoryMibSeconds), cost: costOf(t.instanceSeconds, price) })),
    };
  });

  route(fastify, 'advice', async (req): Promise<AdviceView> => {
    const app = checkAppName(req.params.app);
    if (!d.controller.app(app)) throw new NotFoundError('app', app, 'see `summon apps`');
    const o = d.controller.observations(app);
    const policy = d.controller.policy(app);
    const live = d.controller.app(app)!.liveVersion;
    const release = live !== null ? await d.store.getRelease(app, live) : null;
    const memoryBytes = release?.manifest?.run.memoryBytes ?? null;
    const current = { memoryBytes, min: policy.min, max: policy.max, targetCpu: policy.targetCpu };
    const { since: _since, ...observed } = o;
    if (memoryBytes === null) {
      return { app, observed, current, items: [], note: `${app} has no live release: nothing to size yet` };
    }
    const a = adviseRightsizing(o, { ...current, memoryBytes }, d.adviceMinWindowMs !== undefined ? { minWindowMs: d.adviceMinWindowMs } : {});
    return { app, observed, current, items: a.items, note: a.note };
  });
}
