// The process-wide last resort for the long-running commands (`summon up`, `summon agent`): an
// error that nothing handled is written out with its stack and the process keeps serving, since
// exiting would take every app's router, API and health checks down with it (and orphan its
// instances). Every path a client can reach handles its own errors; this is for the bug that
// did not, and each occurrence says so loudly: through Summon's log when there is one (fatal for
// an uncaught exception, which ordinarily ends a Node process; error for an unhandled
// rejection), and on stderr as plain text where that log would not show it (no logger, or
// `--log-level silent`).
import type { Io } from './context.js';
import type { Logger } from '../logging/logger.js';

let installed = false;

export function installLastResort(io: Pick<Io, 'err'>, what: string, logger?: Logger): void {
  if (installed) return;
  installed = true;
  const report = (kind: string, level: 'fatal' | 'error') => (e: unknown) => {
    const head = `${what}: internal error (${kind}), kept running; please report it`;
    if (logger?.isLevelEnabled(level)) {
      logger[level]({ err: e }, `${head}: ${String(e)}`);
      return;
    }
    io.err(`${head}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  };
  process.on('uncaughtException', report('uncaught exception', 'fatal'));
  process.on('unhandledRejection', report('unhandled rejection', 'error'));
}
