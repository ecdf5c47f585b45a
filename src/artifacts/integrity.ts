// What a broken release (its artifact or initrd missing or altered in the blob store, see
// verify.ts) means for rolling back: pure, shared by the controller's release.broken event
// and `summon releases`.
import type { Release } from '../core/types.js';

type Listed = Pick<Release, 'version' | 'status' | 'artifactSha256' | 'initrdSha256' | 'brokenReason'>;

/** The newest release that served before (live or superseded), is not marked broken and
 *  shares no blob with a broken one: what to roll back to. */
export function rollbackTarget<R extends Listed>(releases: readonly R[]): R | undefined {
  const bad = new Set<string>();
  for (const r of releases) {
    if (!r.brokenReason) continue;
    if (r.artifactSha256) bad.add(r.artifactSha256);
    if (r.initrdSha256) bad.add(r.initrdSha256);
  }
  return [...releases].sort((a, b) => b.version - a.version).find((r) =>
    !r.brokenReason && r.artifactSha256 !== null && (r.status === 'live' || r.status === 'superseded') &&
    !bad.has(r.artifactSha256) && !(r.initrdSha256 && bad.has(r.initrdSha256)));
}

/** "roll back with `summon rollback -a APP v2`", or what to do when nothing is left to roll back to. */
export function rollbackAdvice(app: string, releases: readonly Listed[]): string {
  const t = rollbackTarget(releases);
  return t
    ? `roll back with \`summon rollback -a ${app} v${t.version}\``
    : `no earlier release is intact to roll back to: push a fix (a new build stores a fresh copy)`;
}
