// What each app's instances were seen to use, for rightsizing advice (core/rightsizing.ts):
// one bucket per hour, the last 24 kept, fed by the controller's one-second sampling tick for
// apps that have running instances only (an idle app adds nothing). In memory: a restart of
// Summon starts the window again, and the advice says how long it covers.
import type { Observations } from '../core/rightsizing.js';

const HOUR = 3_600_000;
export const OBSERVATION_WINDOW_MS = 24 * HOUR;

interface Bucket {
  hour: number;
  samples: number;
  memoryPeakBytes: number | null;
  cpuSum: number;
  cpuCount: number;
  cpuTotalPeak: number | null;
  instancesPeak: number;
  oomKills: number;
}

export interface InstanceSample {
  cpu: number | null;
  memoryBytes: number | null;
}

export class UsageObserver {
  private readonly byApp = new Map<string, Bucket[]>();

  constructor(private readonly startedAt: number) {}

  private bucket(app: string, now: number): Bucket {
    const hour = Math.floor(now / HOUR) * HOUR;
    let list = this.byApp.get(app);
    if (!list) {
      list = [];
      this.byApp.set(app, list);
    }
    let b = list.at(-1);
    if (!b || b.hour !== hour) {
      b = { hour, samples: 0, memoryPeakBytes: null, cpuSum: 0, cpuCount: 0, cpuTotalPeak: null, instancesPeak: 0, oomKills: 0 };
      list.push(b);
      while (list.length && list[0].hour <= now - OBSERVATION_WINDOW_MS - HOUR) list.shift();
    }
    return b;
  }

  /** One sample of an app's running instances (called once a second per app that has some). */
  record(app: string, now: number, instances: InstanceSample[]): void {
    if (instances.length === 0) return;
    const b = this.bucket(app, now);
    b.samples++;
    b.instancesPeak = Math.max(b.instancesPeak, instances.length);
    let total: number | null = null;
    for (const i of instances) {
      if (i.memoryBytes !== null) b.memoryPeakBytes = Math.max(b.memoryPeakBytes ?? 0, i.memoryBytes);
      if (i.cpu !== null) {
        b.cpuSum += i.cpu;
        b.cpuCount++;
        total = (total ?? 0) + i.cpu;
      }
    }
    if (total !== null) b.cpuTotalPeak = Math.max(b.cpuTotalPeak ?? 0, total);
  }

  oomKilled(app: string, now: number): void {
    this.bucket(app, now).oomKills++;
  }

  forget(app: string): void {
    this.byApp.delete(app);
  }

  /** The last 24 hours (or since Summon started, if later) of one app. */
  summary(app: string, now: number, lastRequestAt: number | null): Observations {
    const since = Math.max(now - OBSERVATION_WINDOW_MS, this.startedAt);
    const o: Observations = {
      windowMs: now - since, since, samples: 0, memoryPeakBytes: null, cpuAvg: null, cpuTotalPeak: null, instancesPeak: 0, oomKills: 0, lastRequestAt,
    };
    let cpuSum = 0;
    let cpuCount = 0;
    for (const b of this.byApp.get(app) ?? []) {
      if (b.hour + HOUR <= since) continue;
      o.samples += b.samples;
      o.instancesPeak = Math.max(o.instancesPeak, b.instancesPeak);
      o.oomKills += b.oomKills;
      if (b.memoryPeakBytes !== null) o.memoryPeakBytes = Math.max(o.memoryPeakBytes ?? 0, b.memoryPeakBytes);
      if (b.cpuTotalPeak !== null) o.cpuTotalPeak = Math.max(o.cpuTotalPeak ?? 0, b.cpuTotalPeak);
      cpuSum += b.cpuSum;
      cpuCount += b.cpuCount;
    }
    if (cpuCount) o.cpuAvg = cpuSum / cpuCount;
    return o;
  }
}
