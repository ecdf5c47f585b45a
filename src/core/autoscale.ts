// The autoscale and idle planners: pure. CPU is in cores per instance (1.0 = one core busy),
// compared with [scale].target_cpu. Scale out fast on a short window, scale in slowly after a
// longer stabilisation window, never outside [min, max].
import type { ScalePolicy } from './types.js';

export interface CpuSample {
  at: number;
  /** Average CPU of the app's healthy instances. */
  avgCpu: number;
  instances: number;
}

export interface AutoscaleInput {
  policy: ScalePolicy;
  desired: number;
  samples: CpuSample[];
  lastScaleAt: number | null;
  /** When the count was last set by hand (`ps:scale`), if ever. CPU sampled before then was
   *  measured at another count and says nothing about this one, so both windows start here:
   *  a manual change is never undone sooner than the scale-in window after it. */
  manualAt?: number | null;
  now: number;
  windows: { outMs: number; inMs: number; cooldownMs: number };
}

export interface ScaleDecision {
  desired: number;
  direction: 'out' | 'in';
  reason: string;
  figures: Record<string, number>;
}

function recommend(sample: CpuSample, target: number, desired: number): number {
  return Math.ceil((desired * sample.avgCpu) / target);
}

export function planAutoscale(i: AutoscaleInput): ScaleDecision | null {
  const { policy, desired, now, windows } = i;
  if (desired === 0) return null; // at zero, waking is the request path's job
  if (i.lastScaleAt !== null && now - i.lastScaleAt < windows.cooldownMs) return null;
  const manualAt = i.manualAt ?? null;
  const samples = manualAt === null ? i.samples : i.samples.filter((s) => s.at > manualAt);
  /** The window is covered by samples taken at this count (and after any manual change). */
  const covered = (ms: number) => samples.some((s) => s.at <= now - ms + 1000) && (manualAt === null || now - manualAt >= ms);
  const recent = samples.filter((s) => s.at > now - windows.outMs && s.instances > 0);
  const outWindowFull = covered(windows.outMs);
  if (recent.length && outWindowFull && recent.every((s) => s.avgCpu > policy.targetCpu) && desired < policy.max) {
    const avg = recent.reduce((a, s) => a + s.avgCpu, 0) / recent.length;
    const want = Math.min(policy.max, Math.max(desired + 1, Math.ceil((desired * avg) / policy.targetCpu)));
    return {
      desired: want, direction: 'out',
      reason: `average CPU ${(avg * 100).toFixed(0)}% above target ${(policy.targetCpu * 100).toFixed(0)}% for ${windows.outMs / 1000}s`,
      figures: { avgCpu: avg, targetCpu: policy.targetCpu, from: desired, to: want, max: policy.max },
    };
  }
  const floor = Math.max(policy.min, 1);
  if (desired <= floor) return null;
  const window = samples.filter((s) => s.at > now - windows.inMs && s.instances > 0);
  const inWindowFull = covered(windows.inMs);
  if (!window.length || !inWindowFull) return null;
  const highest = Math.max(...window.map((s) => recommend(s, policy.targetCpu, desired)));
  const want = Math.max(floor, highest);
  if (want >= desired) return null;
  const avg = window.reduce((a, s) => a + s.avgCpu, 0) / window.length;
  return {
    desired: want, direction: 'in',
    reason: `average CPU ${(avg * 100).toFixed(0)}% below target ${(policy.targetCpu * 100).toFixed(0)}% for ${windows.inMs / 1000}s`,
    figures: { avgCpu: avg, targetCpu: policy.targetCpu, from: desired, to: want, min: policy.min },
  };
}

/** With min = 0, an app with no request for idleTimeout goes to zero. */
export function shouldIdle(policy: ScalePolicy, desired: number, lastActivityAt: number, inflight: number, now: number): boolean {
  return policy.min === 0 && desired > 0 && inflight === 0 && now - lastActivityAt >= policy.idleTimeoutMs;
}
