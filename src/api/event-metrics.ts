// Metrics counted from named events as they are recorded: builds, rollouts, automatic
// restarts. Events are rare next to requests, so these are ordinary prom-client counters and
// histograms on the registry they are given.
import { Counter, Histogram, type Registry } from 'prom-client';
import type { SummonEvent } from '../core/types.js';

/** Seconds: a build with a committed artifact takes under a second, a toolchain build many minutes. */
export const BUILD_BUCKETS = [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1200, 1800];
/** Seconds: a process rollout takes tens of ms, a VM fleet with canaries up to half an hour. */
export const ROLLOUT_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800];

const BUILD_RESULTS = ['succeeded', 'failed'] as const;
const ROLLOUT_RESULTS = ['live', 'failed'] as const;
const RESTART_REASONS = ['crash', 'start_failed', 'unhealthy'] as const;
const COUNTED = new Set(['build.succeeded', 'build.failed', 'deploy.started', 'release.live', 'release.failed', 'instance.crashed']);

export class EventMetrics {
  private readonly builds: Counter<'app' | 'result'>;
  private readonly buildSeconds: Histogram<'app'>;
  private readonly rolloutSeconds: Histogram<'app' | 'result'>;
  private readonly crashes: Counter<'app'>;
  private readonly restarts: Counter<'app' | 'reason'>;
  /** The rollout under way per app (the controller runs one at a time): its version and start. */
  private readonly rolling = new Map<string, { version: number; at: number }>();
  private readonly seen = new Set<string>();

  constructor(registry: Registry) {
    const registers = [registry];
    this.builds = new Counter({ name: 'summon_builds_total', help: 'Builds by app and result (succeeded, failed).', labelNames: ['app', 'result'], registers });
    this.buildSeconds = new Histogram({
      name: 'summon_build_duration_seconds', help: 'Build durations (checkout to stored artifact), succeeded or failed.',
      labelNames: ['app'], buckets: BUILD_BUCKETS, registers,
    });
    this.rolloutSeconds = new Histogram({
      name: 'summon_rollout_duration_seconds', help: 'Rollouts of a release, from deploy.started to the release being live or failed.',
      labelNames: ['app', 'result'], buckets: ROLLOUT_BUCKETS, registers,
    });
    this.crashes = new Counter({ name: 'summon_instance_crashes_total', help: 'Instances that exited or were killed without being asked to stop.', labelNames: ['app'], registers });
    this.restarts = new Counter({
      name: 'summon_instance_restarts_total', help: 'Instances restarted in place by their agent, by reason (crash, start_failed, unhealthy).',
      labelNames: ['app', 'reason'], registers,
    });
  }

  observe(e: SummonEvent): void {
    if (e.type === 'app.destroyed') {
      if (typeof e.data.app === 'string') this.forget(e.data.app);
      return;
    }
    const app = e.app;
    if (!app || !COUNTED.has(e.type)) return;
    if (!this.seen.has(app)) this.zero(app);
    switch (e.type) {
      case 'build.succeeded':
      case 'build.failed':
        this.builds.inc({ app, result: e.type === 'build.succeeded' ? 'succeeded' : 'failed' });
        this.buildSeconds.observe({ app }, seconds(e.data.durationMs));
        return;
      case 'deploy.started':
        if (typeof e.data.version === 'number') this.rolling.set(app, { version: e.data.version, at: e.at });
        return;
      case 'release.live':
      case 'release.failed': {
        const r = this.rolling.get(app);
        if (!r || r.version !== e.data.version) return; // a build that failed, or a rollout begun before this process
        this.rolling.delete(app);
        this.rolloutSeconds.observe({ app, result: e.type === 'release.live' ? 'live' : 'failed' }, Math.max(0, e.at - r.at) / 1000);
        return;
      }
      case 'instance.crashed': {
        // Agents older than the `cause` field reported every restart like this: as a crash.
        const reason = e.data.cause === 'unhealthy' ? 'unhealthy' : e.data.cause === 'start' ? 'start_failed' : 'crash';
        if (reason === 'crash') this.crashes.inc({ app });
        this.restarts.inc({ app, reason });
        return;
      }
    }
  }

  /** An app's series all appear at its first counted event, at zero, so a rate() over a
   *  failure that has not happened yet is 0 rather than missing. */
  private zero(app: string): void {
    this.seen.add(app);
    for (const result of BUILD_RESULTS) this.builds.inc({ app, result }, 0);
    this.buildSeconds.zero({ app });
    for (const result of ROLLOUT_RESULTS) this.rolloutSeconds.zero({ app, result });
    this.crashes.inc({ app }, 0);
    for (const reason of RESTART_REASONS) this.restarts.inc({ app, reason }, 0);
  }

  /** Drops a destroyed app's series, so churning apps do not grow the scrape. */
  forget(app: string): void {
    this.seen.delete(app);
    this.rolling.delete(app);
    for (const result of BUILD_RESULTS) this.builds.remove({ app, result });
    this.buildSeconds.remove({ app });
    for (const result of ROLLOUT_RESULTS) this.rolloutSeconds.remove({ app, result });
    this.crashes.remove({ app });
    for (const reason of RESTART_REASONS) this.restarts.remove({ app, reason });
  }
}

function seconds(ms: unknown): number {
  const n = Number(ms);
  return Number.isFinite(n) && n > 0 ? n / 1000 : 0;
}
