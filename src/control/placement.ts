// Where a new instance goes: a host that has the release's runtime, and runs the
// architecture its artifact needs (natively or emulated), reachable now, with the fewest
// instances. Pure: the controller hands in what it knows of each host.
import type { Arch, Release, Target } from '../core/types.js';

export interface PlacementHost {
  id: string;
  /** Has an available runtime for the target. */
  offers: boolean;
  /** That runtime runs the architecture asked for (true when none is asked). */
  runsArch: boolean;
  reachable: boolean;
  instances: number;
}

export interface PlacementNeed {
  target: Target;
  arch?: Arch;
  /** How the arch is known, for the reason: the artifact's header, or "[run].arch". */
  archFrom?: string;
}

export type Placement = { host: string } | { refused: string };

/** The architecture a release's instances need: the one recorded at build (the artifact's
 *  own, else [run].arch), else [run].arch (a release built before the build recorded it). */
export function releaseNeed(release: Pick<Release, 'manifest' | 'buildManifest'>): PlacementNeed {
  const target = release.manifest!.run.target;
  const built = release.buildManifest?.artifact;
  if (built?.arch) return { target, arch: built.arch, ...(built.archFrom ? { archFrom: built.archFrom } : {}) };
  const wanted = release.manifest!.run.arch;
  return wanted ? { target, arch: wanted, archFrom: '[run].arch' } : { target };
}

/**
 * A host that offers the target (and runs the arch), reachable ones first; when only
 * unreachable hosts do, one of them gets it for when it is back. An arch that no host runs is
 * refused, with the reason; a target that no host offers keeps the old behaviour (any host:
 * its agent reports why it cannot start the instance).
 */
export function choosePlacement(hosts: readonly PlacementHost[], need: PlacementNeed): Placement {
  const fewest = (pool: readonly PlacementHost[]) => pool.reduce((best, h) => (h.instances < best.instances ? h : best), pool[0]).id;
  const fit = hosts.filter((h) => h.offers && h.runsArch);
  const reachable = fit.filter((h) => h.reachable);
  if (reachable.length) return { host: fewest(reachable) };
  if (fit.length) return { host: fewest(fit) };
  const offering = hosts.filter((h) => h.offers);
  if (need.arch && offering.length) return { refused: archRefusal(need.target, need.arch, need.archFrom) };
  if (hosts.length === 0) return { refused: 'no hosts' };
  return { host: fewest(offering.length ? offering : hosts) };
}

/** Why an instance needing `arch` has nowhere to go: names the arch, where it came from,
 *  `summon hosts` and [run].arch. */
export function archRefusal(target: Target, arch: Arch, archFrom?: string): string {
  const why = archFrom === '[run].arch' ? '[run].arch asks for it' : `the artifact is ${arch}: ${archFrom ?? 'as built'}`;
  return `no host runs ${arch} for the ${target} runtime (${why}): see which architectures each host runs with \`summon hosts\`, ` +
    `add a host that runs ${arch}, or build the artifact for one of theirs and set [run].arch to match`;
}
