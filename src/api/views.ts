// What the API returns. The SDK, the CLI and the dashboard read these shapes.
import type { App, Instance, Release, ScalePolicy } from '../core/types.js';

export interface AppView {
  name: string;
  url: string;
  gitUrl: string;
  state: 'no-release' | 'idle' | 'running' | 'deploying' | 'crashed' | 'starting';
  liveVersion: number | null;
  targetVersion: number | null;
  desiredCount: number;
  instances: { total: number; healthy: number };
  scale: ScalePolicy;
  scalePolicySource: 'autoscale' | 'manifest' | 'default';
  /** After `ps:scale` on an app that autoscales: the autoscaler does not scale in before this. */
  manualHoldUntil: number | null;
  usageSecondsToday: number;
  createdAt: number;
}

export type ReleaseView = Omit<Release, 'configCipher'> & { configKeys: string[] };

export function appState(app: App, instances: Instance[]): AppView['state'] {
  if (app.liveVersion === null && app.targetVersion === null) return 'no-release';
  if (app.targetVersion !== null) return 'deploying';
  const healthy = instances.filter((i) => i.state === 'healthy').length;
  if (app.desiredCount === 0 && instances.length === 0) return 'idle';
  if (healthy > 0) return 'running';
  if (instances.some((i) => i.state === 'crashed')) return 'crashed';
  return 'starting';
}
