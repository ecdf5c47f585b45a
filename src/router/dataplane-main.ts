// The data plane process's entry (dataplane.ts): `node dataplane-main.js CONFIG_JSON`,
// started by `summon up` in a session of its own so that Ctrl-C on Summon's terminal, or
// Summon's exit, does not reach it. Its log lines go to stderr (DATA/dataplane.log).
import { rmSync, writeFileSync } from 'node:fs';
import { runDataPlane, pidFileOf, type DataPlaneConfig } from './dataplane.js';

const log = (msg: string) => process.stderr.write(`${new Date().toISOString()} dataplane[${process.pid}]: ${msg}\n`);

try {
  const cfg = JSON.parse(process.argv[2] ?? '') as DataPlaneConfig;
  const dp = await runDataPlane(cfg, log);
  // Whoever finds this data plane unanswering can still find it, and stop it.
  const pidFile = pidFileOf(cfg.socket);
  writeFileSync(pidFile, `${process.pid}\n`, { mode: 0o600 });
  // Told where it listens: the control plane reads the port from the hello too.
  process.stdout.write(`${JSON.stringify({ port: dp.port, pid: process.pid })}\n`);
  const stop = (sig: string) => {
    log(`${sig}: stopping`);
    void dp.close();
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  await dp.closed;
  rmSync(pidFile, { force: true });
  log('stopped');
  process.exit(0);
} catch (e) {
  log(`could not start: ${(e as Error).message}`);
  process.exit(1);
}
