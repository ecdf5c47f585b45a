// The rollout planner: pure. Given what runs for an app and what should, it says which
// instances to start and which to drain, and whether a rollout is finished or has failed.
// Called on every change and every tick; it is idempotent (the same snapshot gives the
// same plan), so the controller can call it as often as it likes.
import type { InstanceState } from './types.js';

export interface PlannedInstance {
  id: string;
  version: number;
  state: InstanceState;
  draining: boolean;
  /** Restarts since this instance was created. */
  restarts: number;
  everHealthy: boolean;
  createdAt: number;
  /** Consecutive "answered but unhealthy" checks before it was ever healthy, as reported. */
  reason: string | null;
}

export interface RolloutSnapshot {
  /** Instances wanted. */
  desired: number;
  liveVersion: number | null;
  /** The release being rolled out, if any. */
  targetVersion: number | null;
  instances: PlannedInstance[];
  deploy: { maxSurge: number; maxUnavailable: number };
  /** A new instance must be healthy within this long of creation, or the rollout fails. */
  deadlineMs: number;
  /** A new instance that crashed this many times before ever being healthy fails the rollout. */
  crashLoopRestarts: number;
}

export interface RolloutPlan {
  start: { version: number; count: number } | null;
  drain: string[];
  /** Set when the target release is fully rolled out. */
  promote: number | null;
  /** Set when the target release cannot become healthy. */
  fail: { version: number; reason: string } | null;
}

const EMPTY: Readonly<RolloutPlan> = Object.freeze({ start: null, drain: Object.freeze([]) as unknown as string[], promote: null, fail: null });

/** Order in which to give up instances: broken first, then the newest. */
function drainOrder(a: PlannedInstance, b: PlannedInstance): number {
  const rank = (i: PlannedInstance): number => (i.state === 'healthy' ? 1 : 0);
  return rank(a) - rank(b) || b.createdAt - a.createdAt;
}

export function planRollout(s: RolloutSnapshot, now: number): RolloutPlan {
  const active = s.instances.filter((i) => !i.draining);
  const version = s.targetVersion ?? s.liveVersion;
  if (version === null) return { ...EMPTY, drain: active.map((i) => i.id) };

  const current = active.filter((i) => i.version === version);
  const others = active.filter((i) => i.version !== version);

  if (s.targetVersion !== null) {
    const failure = detectFailure(current, s, now);
    if (failure) return { ...EMPTY, fail: { version: s.targetVersion, reason: failure } };
  }

  // Steady state (or a rollout whose old instances are all gone): converge on `desired`.
  if (s.targetVersion === null || others.length === 0) {
    const plan: RolloutPlan = { ...EMPTY, drain: others.map((i) => i.id) };
    if (current.length < s.desired) plan.start = { version, count: s.desired - current.length };
    if (current.length > s.desired) {
      plan.drain.push(...[...current].sort(drainOrder).slice(0, current.length - s.desired).map((i) => i.id));
    }
    const healthy = current.filter((i) => i.state === 'healthy').length;
    if (s.targetVersion !== null && healthy >= s.desired && current.length <= s.desired) plan.promote = s.targetVersion;
    return plan;
  }

  // Rolling: never more than desired + maxSurge active, never fewer than
  // desired − maxUnavailable healthy. A drain list of its own: EMPTY's is shared (regression:
  // pushing onto it made every later rolling plan drain the ids of earlier ones).
  const plan: RolloutPlan = { ...EMPTY, drain: [] };
  const total = current.length + others.length;
  const canStart = Math.min(s.desired - current.length, s.desired + s.deploy.maxSurge - total);
  if (canStart > 0) plan.start = { version, count: canStart };
  const healthy = active.filter((i) => i.state === 'healthy').length;
  const spare = healthy - (s.desired - s.deploy.maxUnavailable);
  // Old instances that are broken cost no availability to remove. One still starting (as after
  // a restart of Summon, which restarts every instance) may be the first to serve again: it
  // stays until enough instances are healthy without it (regression: the old instance was
  // drained at once and the app had no upstream until the slow new one was healthy).
  const brokenOthers = others.filter((i) => i.state === 'crashed' || i.state === 'unhealthy' || i.state === 'stopped');
  const startingOthers = others.filter((i) => i.state === 'pending' || i.state === 'starting');
  const healthyOthers = others.filter((i) => i.state === 'healthy').sort(drainOrder);
  plan.drain.push(...brokenOthers.map((i) => i.id));
  if (spare >= 0) plan.drain.push(...startingOthers.map((i) => i.id));
  plan.drain.push(...healthyOthers.slice(0, Math.max(0, Math.min(healthyOthers.length, spare))).map((i) => i.id));
  return plan;
}

function detectFailure(current: PlannedInstance[], s: RolloutSnapshot, now: number): string | null {
  for (const i of current) {
    if (i.everHealthy) continue;
    if (i.restarts >= s.crashLoopRestarts) {
      return `instance ${i.id} failed ${i.restarts} times without becoming healthy: ${i.reason ?? 'no reason reported'}`;
    }
    if (now - i.createdAt > s.deadlineMs) {
      return `instance ${i.id} was not healthy within ${Math.round(s.deadlineMs / 1000)}s: ${i.reason ?? `state ${i.state}`}`;
    }
  }
  return null;
}
