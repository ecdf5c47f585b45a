// The process-wide last resort for the long-running commands (`summon up`, `summon agent`): an
// error that nothing handled is written out with its stack and the process keeps serving, since
// exiting would take every app's router, API and health checks down with it (and orphan its
// instances). Every path a client can reach handles its own errors; this is for the bug that
// did not, and each occurrence says so loudly.
import type { Io } from './context.js';

let installed = false;

export function installLastResort(io: Pick<Io, 'err'>, what: string): void {
  if (installed) return;
  installed = true;
  const report = (kind: string) => (e: unknown) => {
    const text = e instanceof Error ? (e.stack ?? e.message) : String(e);
    io.err(`${what}: internal error (${kind}), kept running; please report it: ${text}`);
  };
  process.on('uncaughtException', report('uncaught exception'));
  process.on('unhandledRejection', report('unhandled rejection'));
}
