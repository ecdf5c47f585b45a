// What the API returns. The SDK, the CLI and the dashboard read these shapes.
import type { App, Instance } from '../core/types.js';
import type { AppView, ReleaseView } from '../sdk/types.js';

export type { AppView, ReleaseView };

export function appState(app: App, instances: Instance[]): AppView['state'] {
  if (app.liveVersion === null && app.targetVersion === null) return 'no-release';
  if (app.targetVersion !== null) return 'deploying';
  const healthy = instances.filter((i) => i.state === 'healthy').length;
  if (app.desiredCount === 0 && instances.length === 0) return 'idle';
  if (healthy > 0) return 'running';
  if (instances.some((i) => i.state === 'crashed')) return 'crashed';
  return 'starting';
}
