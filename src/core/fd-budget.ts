// Summon holds a descriptor per client connection, upstream connection, instance, log file and
// health check, so the open-file limit is the first thing a flood of idle connections
// exhausts. Node already raises its soft RLIMIT_NOFILE to the hard limit at start, and raising
// the hard limit needs CAP_SYS_RESOURCE (refused even to root in some containers), so what
// Summon does is size its client-connection caps to fit under the limit, keeping a reserve
// for itself: health checks, spawns, the store, logs and the API must never lack one.

export interface FdLimit {
  soft: number;
  hard: number;
}

export function parseFdLimit(limitsText: string): FdLimit | null {
  const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(limitsText);
  if (!m) return null;
  const n = (s: string) => (s === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(s));
  return { soft: n(m[1]), hard: n(m[2]) };
}

/** Descriptors kept back from client connections: a quarter of the limit, at least 512. */
export function fdReserve(limit: number): number {
  return Math.max(512, Math.floor(limit / 4));
}

/** How many client connections fit: the limit less the reserve, never below 16. Each proxied
 *  client may also hold an upstream connection, hence half of what is left. */
export function clientConnectionBudget(limit: number): number {
  return Math.max(16, Math.floor((limit - fdReserve(limit)) / 2));
}
