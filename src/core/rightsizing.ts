// Rightsizing advice, as GCE suggests a smaller machine type for an under-used instance: from
// what an app's instances were seen to use over the last day (peak memory, CPU, requests, OOM
// kills), whether its [run].memory or its [scale].min should change, with the figures that say
// why. Pure: the observations come in, the advice goes out; the controller gathers them.

const MIB = 2 ** 20;
/** The smallest [run].memory the manifest accepts. */
export const MIN_MEMORY_BYTES = 16 * MIB;
/** Memory advice keeps this much above the peak seen. */
export const MEMORY_HEADROOM = 1.25;
/** A smaller [run].memory is suggested only when it saves at least this share of the reservation. */
const WORTH_SHRINKING = 0.25;
/** A peak this close to the reservation is one spike from an OOM kill. */
const NEAR_LIMIT = 0.9;

export interface Observations {
  /** How long the observations cover (since the start of the window, or since Summon started). */
  windowMs: number;
  /** One-second samples taken while the app had a running instance. */
  samples: number;
  /** The most memory one instance used in any sample (bytes); null when none was measured. */
  memoryPeakBytes: number | null;
  /** Average CPU of one running instance, in cores; null when none was measured. */
  cpuAvg: number | null;
  /** The most CPU all the app's instances used together in one sample, in cores. */
  cpuTotalPeak: number | null;
  /** The most instances running at once. */
  instancesPeak: number;
  /** Instances killed for going over [run].memory. */
  oomKills: number;
  /** When the router last saw a request for the app (null: none since Summon started). */
  lastRequestAt: number | null;
  /** The window's start (epoch ms): lastRequestAt before it means no request in the window. */
  since: number;
}

export interface Current {
  memoryBytes: number;
  min: number;
  max: number;
  targetCpu: number;
}

export interface AdviceItem {
  /** What to change in summon.toml (or with `summon autoscale`). */
  key: 'run.memory' | 'scale.min';
  direction: 'down' | 'up';
  from: number;
  to: number;
  /** One line with the figures. */
  reason: string;
}

export interface Advice {
  items: AdviceItem[];
  /** Why there is no advice (too little observed), or null. */
  note: string | null;
}

export interface AdviceOptions {
  /** Least observed time before anything but an OOM kill leads to advice (default 1 h). */
  minWindowMs?: number;
  /** Least samples with an instance running before memory advice is given (default 60). */
  minSamples?: number;
}

/** Memory sizes are suggested as powers of two (16M, 32M, 64M …): what [run].memory usually says. */
export function memoryStep(bytes: number): number {
  let m = MIN_MEMORY_BYTES;
  while (m < bytes) m *= 2;
  return m;
}

export function formatMiB(bytes: number): string {
  const mib = bytes / MIB;
  if (mib >= 1024 && mib % 1024 === 0) return `${mib / 1024}G`;
  return `${Number.isInteger(mib) ? mib : mib.toFixed(1)}M`;
}

function hours(ms: number): string {
  if (ms < 60_000) return `${Math.round(ms / 1000)}s`;
  const h = ms / 3_600_000;
  return h >= 1 ? `${Math.round(h * 10) / 10}h` : `${Math.round(ms / 60_000)}min`;
}

export function adviseRightsizing(o: Observations, c: Current, opts: AdviceOptions = {}): Advice {
  const minWindowMs = opts.minWindowMs ?? 3_600_000;
  const minSamples = opts.minSamples ?? 60;
  const items: AdviceItem[] = [];
  const over = `over the last ${hours(o.windowMs)}`;
  const peak = o.memoryPeakBytes;

  // Memory up: an OOM kill is evidence at once, whatever the window.
  if (o.oomKills > 0 || (peak !== null && o.samples >= minSamples && peak >= NEAR_LIMIT * c.memoryBytes)) {
    const to = memoryStep(Math.max(c.memoryBytes * 2, (peak ?? 0) * MEMORY_HEADROOM));
    const why = o.oomKills > 0
      ? `${o.oomKills} instance(s) killed for going over ${formatMiB(c.memoryBytes)} ${over}`
      : `peak ${formatMiB(peak!)} is ${Math.round((peak! / c.memoryBytes) * 100)}% of the ${formatMiB(c.memoryBytes)} reserved ${over}`;
    items.push({ key: 'run.memory', direction: 'up', from: c.memoryBytes, to, reason: `${why}: set [run].memory = "${formatMiB(to)}"` });
  }

  const enough = o.windowMs >= minWindowMs;
  if (!enough) {
    return { items, note: items.length ? null : `not enough observed yet: ${hours(o.windowMs)} of the ${hours(minWindowMs)} needed` };
  }

  // Memory down: the peak with headroom fits in a reservation at least a quarter smaller.
  if (!items.length && peak !== null && o.samples >= minSamples) {
    const to = Math.max(MIN_MEMORY_BYTES, memoryStep(peak * MEMORY_HEADROOM));
    if (to <= c.memoryBytes * (1 - WORTH_SHRINKING)) {
      items.push({
        key: 'run.memory', direction: 'down', from: c.memoryBytes, to,
        reason: `peak ${formatMiB(peak)} of the ${formatMiB(c.memoryBytes)} reserved ${over} (${o.samples} samples): set [run].memory = "${formatMiB(to)}" (${Math.round((MEMORY_HEADROOM - 1) * 100)}% above the peak)`,
      });
    }
  }

  // Scale min down: no request in the window means it could have been at zero; otherwise the
  // peak CPU of all instances together, at the target, fits in fewer than min.
  if (c.min >= 1) {
    if (o.lastRequestAt === null || o.lastRequestAt < o.since) {
      items.push({
        key: 'scale.min', direction: 'down', from: c.min, to: 0,
        reason: `no request ${over}, yet ${c.min} instance(s) kept running: set [scale].min = 0 (stopped when idle, woken by the next request)`,
      });
    } else if (o.cpuTotalPeak !== null && c.min > 1) {
      const needed = Math.max(1, Math.ceil(o.cpuTotalPeak / c.targetCpu));
      if (needed < c.min) {
        items.push({
          key: 'scale.min', direction: 'down', from: c.min, to: needed,
          reason: `peak CPU of all instances together ${o.cpuTotalPeak.toFixed(2)} cores ${over}; at the ${Math.round(c.targetCpu * 100)}% target that is ${needed} instance(s): set [scale].min = ${needed} (autoscaling adds more under load, up to ${c.max})`,
        });
      }
    }
  }
  return { items, note: items.length ? null : `no change suggested ${over}${peak !== null ? ` (peak ${formatMiB(peak)} of ${formatMiB(c.memoryBytes)})` : ''}` };
}
