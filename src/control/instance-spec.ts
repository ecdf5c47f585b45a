import type { DesiredInstance } from '../agent/agent.js';
import type { Release } from '../core/types.js';
import { newId } from '../core/ids.js';

/** The agent's view of a new instance of `release`, with its config vars decrypted. */
export function desiredInstanceFor(release: Release, config: Record<string, string>): DesiredInstance {
  const m = release.manifest;
  if (!m || !release.artifactSha256) throw new Error(`release v${release.version} of ${release.app} has no artifact`);
  return {
    id: newId(release.app),
    app: release.app,
    version: release.version,
    target: m.run.target,
    artifactSha256: release.artifactSha256,
    initrdSha256: release.initrdSha256,
    args: m.run.args,
    env: config,
    guestPort: m.run.port,
    memoryBytes: m.run.memoryBytes,
    ...(m.run.cpu !== undefined ? { cpu: m.run.cpu } : {}),
    ...(m.run.cmdline ? { cmdline: m.run.cmdline } : {}),
    ...(m.run.network ? { network: m.run.network } : {}),
    health: m.health,
  };
}
