// Builds and their durations for GET /metrics, counted from the build events.
import type { SummonEvent } from '../core/types.js';

const BOUNDS = [1, 2, 5, 10, 30, 60, 120, 300, 600, 1800];

interface PerApp {
  ok: number;
  failed: number;
  counts: number[];
  sum: number;
}

export class BuildMetrics {
  private readonly apps = new Map<string, PerApp>();

  observe(e: SummonEvent): void {
    if ((e.type !== 'build.succeeded' && e.type !== 'build.failed') || !e.app) return;
    let a = this.apps.get(e.app);
    if (!a) {
      a = { ok: 0, failed: 0, counts: BOUNDS.map(() => 0), sum: 0 };
      this.apps.set(e.app, a);
    }
    if (e.type === 'build.succeeded') a.ok += 1;
    else a.failed += 1;
    const s = Number(e.data.durationMs ?? 0) / 1000;
    a.sum += s;
    BOUNDS.forEach((b, i) => {
      if (s <= b) a!.counts[i] += 1;
    });
  }

  forget(app: string): void {
    this.apps.delete(app);
  }

  lines(): string[] {
    const out = [
      '# HELP summon_builds_total Builds by app and result.', '# TYPE summon_builds_total counter',
    ];
    for (const [app, a] of this.apps) {
      out.push(`summon_builds_total{app="${app}",result="succeeded"} ${a.ok}`, `summon_builds_total{app="${app}",result="failed"} ${a.failed}`);
    }
    out.push('# HELP summon_build_duration_seconds Build (checkout to stored artifact) durations.', '# TYPE summon_build_duration_seconds histogram');
    for (const [app, a] of this.apps) {
      BOUNDS.forEach((b, i) => out.push(`summon_build_duration_seconds_bucket{app="${app}",le="${b}"} ${a.counts[i]}`));
      out.push(`summon_build_duration_seconds_bucket{app="${app}",le="+Inf"} ${a.ok + a.failed}`);
      out.push(`summon_build_duration_seconds_sum{app="${app}"} ${a.sum}`, `summon_build_duration_seconds_count{app="${app}"} ${a.ok + a.failed}`);
    }
    return out;
  }
}
