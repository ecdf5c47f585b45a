/** Delay before restart number `restarts` (1-based) of a crashed instance: the first restart is
 *  immediate (a one-off crash costs nothing), then 250 ms doubling, capped. */
export function restartDelayMs(restarts: number, capMs = 30_000): number {
  if (restarts <= 1) return 0;
  return Math.min(capMs, 250 * 2 ** (restarts - 2));
}
