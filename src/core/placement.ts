// Where new instances go: a pure planner, snapshot in, plan out. The controller hands in what
// it knows of each host (runtimes, architecture, link, labels, capacity, drain, what runs
// there) and what the release needs; the planner answers with a host for each instance, or
// why there is none. Nothing here does I/O or reads a clock.
//
// A host is a candidate when it has the release's runtime, runs its architecture, is not
// draining (`summon hosts:drain`), carries the labels summon.toml asks for (`[scale].regions`
// matches the `region` label, `[scale].host_labels` any other) and has the memory free
// (`[run].memory` against the host's capacity, less what is placed there already). Among the
// candidates, reachable hosts come first; then the app's instances are spread: the fewest of
// this app in the host's region (when hosts are labelled with one), then on the host, then the
// fewest instances of any app on it, then the id (so the plan is the same for the same input).
import type { Arch, Release, Target } from './types.js';

export interface PlacementHost {
  id: string;
  /** Has an available runtime for the target. */
  offers: boolean;
  /** That runtime runs the architecture asked for (true when none is asked). */
  runsArch: boolean;
  reachable: boolean;
  /** Instances of every app placed on it. */
  instances: number;
  /** Instances of the app being placed on it (default 0). */
  appInstances?: number;
  /** `summon hosts:drain`: takes no new instance. */
  draining?: boolean;
  /** The host's labels (`region`, `arch`, anything given at join). */
  labels?: Readonly<Record<string, string>>;
  /** Memory the host offers instances; absent = not known, not limited. */
  memoryBytes?: number;
  /** Memory the instances placed on it reserve ([run].memory each). */
  usedMemoryBytes?: number;
}

export interface PlacementNeed {
  target: Target;
  arch?: Arch;
  /** How the arch is known, for the reason: the artifact's header, or "[run].arch". */
  archFrom?: string;
  /** [run].memory of one instance. */
  memoryBytes?: number;
  /** [scale].regions: only hosts whose `region` label is one of these. */
  regions?: readonly string[];
  /** [scale].host_labels: only hosts carrying every one of these labels with that value. */
  labels?: Readonly<Record<string, string>>;
}

export type Placement = { host: string } | { refused: string };

export type PlacementPlan = { hosts: string[] } | { hosts: string[]; refused: string };

/** The architecture (and the rest) a release's instances need: the arch recorded at build (the
 *  artifact's own, else [run].arch), else [run].arch (a release built before the build recorded
 *  it); [run].memory; [scale].regions and [scale].host_labels. */
export function releaseNeed(release: Pick<Release, 'manifest' | 'buildManifest'>): PlacementNeed {
  const m = release.manifest!;
  const target = m.run.target;
  const extra: Partial<PlacementNeed> = {
    ...(m.run.memoryBytes ? { memoryBytes: m.run.memoryBytes } : {}),
    ...(m.scale?.regions?.length ? { regions: m.scale.regions } : {}),
    ...(m.scale?.hostLabels && Object.keys(m.scale.hostLabels).length ? { labels: m.scale.hostLabels } : {}),
  };
  const built = release.buildManifest?.artifact;
  if (built?.arch) return { target, arch: built.arch, ...(built.archFrom ? { archFrom: built.archFrom } : {}), ...extra };
  const wanted = m.run.arch;
  return wanted ? { target, arch: wanted, archFrom: '[run].arch', ...extra } : { target, ...extra };
}

function matchesLabels(h: PlacementHost, need: PlacementNeed): boolean {
  const labels = h.labels ?? {};
  if (need.regions?.length && !need.regions.includes(labels.region ?? '')) return false;
  for (const [k, v] of Object.entries(need.labels ?? {})) if (labels[k] !== v) return false;
  return true;
}

function hasRoom(h: PlacementHost, need: PlacementNeed): boolean {
  if (h.memoryBytes === undefined || !need.memoryBytes) return true;
  return (h.usedMemoryBytes ?? 0) + need.memoryBytes <= h.memoryBytes;
}

/** The region a host spreads by: its `region` label, else the host itself. */
const regionOf = (h: PlacementHost): string => (h.labels?.region ? `region:${h.labels.region}` : `host:${h.id}`);

/** The spread order among candidates (see the top of the file). */
function best(pool: readonly PlacementHost[], all: readonly PlacementHost[]): PlacementHost {
  const inRegion = new Map<string, number>();
  for (const h of all) inRegion.set(regionOf(h), (inRegion.get(regionOf(h)) ?? 0) + (h.appInstances ?? 0));
  const key = (h: PlacementHost): [number, number, number] => [inRegion.get(regionOf(h)) ?? 0, h.appInstances ?? 0, h.instances];
  return pool.reduce((a, b) => {
    const [ka, kb] = [key(a), key(b)];
    for (let i = 0; i < 3; i++) if (ka[i] !== kb[i]) return ka[i] < kb[i] ? a : b;
    return a.id <= b.id ? a : b;
  });
}

const MiB = 2 ** 20;
const mib = (b: number): string => `${Math.round(b / MiB)} MiB`;

/**
 * One instance: a candidate host, reachable ones first; when only unreachable hosts qualify,
 * one of them gets it for when it is back. What no host can take is refused with the reason
 * (the architecture, the label constraint, capacity, every host draining); a target that no
 * host offers keeps the old behaviour (any host not draining: its agent reports why it cannot
 * start the instance).
 */
export function choosePlacement(hosts: readonly PlacementHost[], need: PlacementNeed): Placement {
  if (hosts.length === 0) return { refused: 'no hosts' };
  const offering = hosts.filter((h) => h.offers);
  const runs = offering.filter((h) => h.runsArch);
  if (need.arch && offering.length && !runs.length) return { refused: archRefusal(need.target, need.arch, need.archFrom) };
  if (!offering.length) {
    const open = hosts.filter((h) => !h.draining);
    return { host: best(open.length ? open : hosts, hosts).id };
  }
  const labelled = runs.filter((h) => matchesLabels(h, need));
  if (!labelled.length) return { refused: labelRefusal(need) };
  const open = labelled.filter((h) => !h.draining);
  if (!open.length) {
    return { refused: `every host that could run it is draining (${labelled.map((h) => h.id).join(', ')}): add a host (\`summon hosts:join-token\`) or scale down` };
  }
  const roomy = open.filter((h) => hasRoom(h, need));
  if (!roomy.length) {
    const most = open.reduce((a, b) => (free(a) >= free(b) ? a : b));
    return {
      refused: `no host has ${mib(need.memoryBytes ?? 0)} free for another instance ([run].memory): the most free is ${mib(free(most))} on ${most.id}; ` +
        'add a host (`summon hosts:join-token`), scale another app down, or lower [run].memory',
    };
  }
  const reachable = roomy.filter((h) => h.reachable);
  return { host: best(reachable.length ? reachable : roomy, hosts).id };
}

const free = (h: PlacementHost): number => Math.max(0, (h.memoryBytes ?? Infinity) - (h.usedMemoryBytes ?? 0));

/**
 * `count` instances, one after the other, each seeing the ones placed before it: spreads them
 * across hosts (and regions) and stops at capacity. The hosts placed so far come back with the
 * reason when not all could be.
 */
export function planPlacement(hosts: readonly PlacementHost[], need: PlacementNeed, count: number): PlacementPlan {
  const snapshot = hosts.map((h) => ({ ...h }));
  const placed: string[] = [];
  for (let k = 0; k < count; k++) {
    const p = choosePlacement(snapshot, need);
    if ('refused' in p) return { hosts: placed, refused: p.refused };
    placed.push(p.host);
    const h = snapshot.find((x) => x.id === p.host)!;
    h.instances += 1;
    h.appInstances = (h.appInstances ?? 0) + 1;
    h.usedMemoryBytes = (h.usedMemoryBytes ?? 0) + (need.memoryBytes ?? 0);
  }
  return { hosts: placed };
}

/** Why an instance needing `arch` has nowhere to go: names the arch, where it came from,
 *  `summon hosts` and [run].arch. */
export function archRefusal(target: Target, arch: Arch, archFrom?: string): string {
  const why = archFrom === '[run].arch' ? '[run].arch asks for it' : `the artifact is ${arch}: ${archFrom ?? 'as built'}`;
  return `no host runs ${arch} for the ${target} runtime (${why}): see which architectures each host runs with \`summon hosts\`, ` +
    `add a host that runs ${arch}, or build the artifact for one of theirs and set [run].arch to match`;
}

/** Why no host carries the labels summon.toml asks for. */
export function labelRefusal(need: PlacementNeed): string {
  const asks = [
    ...(need.regions?.length ? [`region ${need.regions.join(' or ')} ([scale].regions)`] : []),
    ...Object.entries(need.labels ?? {}).map(([k, v]) => `${k}=${v} ([scale].host_labels)`),
  ].join(' and ');
  const example = need.regions?.length ? `region=${need.regions[0]}` : Object.entries(need.labels ?? {}).map(([k, v]) => `${k}=${v}`)[0] ?? 'k=v';
  return `no host that runs the ${need.target} runtime is labelled ${asks}: see each host's labels with \`summon hosts\`, ` +
    `join one with \`summon hosts:join-token --label ${example}\`, or change summon.toml`;
}
