// Debian's rsyslogd as a log-drain receiver for tests and benchmarks: run in the foreground as
// the caller's own child (`-n -f CONF -i PIDFILE`), with a config written here (no system
// config, no journal, no /dev/log), listening on a loopback port with imtcp (octet-counted
// framing is on by default) and writing every message it receives to a file as one JSON
// object per line. It can be killed (SIGKILL, as a crash) and started again on the same port
// and file.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { freePort } from '../agent/ports.js';
import { waitFor } from './wait.js';

export const RSYSLOGD = '/usr/sbin/rsyslogd';
/** rsyslog's TLS network stream driver (Debian's rsyslog-gnutls package). */
export const RSYSLOG_GTLS = '/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so';

export interface ReceivedSyslog {
  timestamp: string;
  hostname: string;
  app: string;
  procid: string;
  msgid: string;
  sd: string;
  msg: string;
}

export interface Rsyslog {
  port: number;
  /** Where received messages go, one JSON object per line. */
  file: string;
  pid(): number | null;
  /** Starts it (again); resolves once it accepts connections. */
  start(): Promise<void>;
  /** SIGKILL: what it held in memory is lost, as in a crash. */
  kill(): Promise<void>;
  /** Every message it has written so far. */
  received(): Promise<ReceivedSyslog[]>;
  /** Stops it and removes nothing (the caller owns `dir`). */
  stop(): Promise<void>;
}

const TEMPLATE = '{"timestamp":"%timereported:::date-rfc3339%","hostname":"%hostname:::json%","app":"%app-name:::json%",' +
  '"procid":"%procid:::json%","msgid":"%msgid:::json%","sd":"%structured-data:::json%","msg":"%msg:::json%"}\\n';

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/** rsyslogd on 127.0.0.1 (a free port unless `port`), its config, pid file and output in `dir`. */
export async function startRsyslog(dir: string, o: { port?: number } = {}): Promise<Rsyslog> {
  if (!existsSync(RSYSLOGD)) throw new Error(`${RSYSLOGD} is not installed (apt-get install rsyslog; scripts/setup.sh does)`);
  const port = o.port ?? await freePort();
  const file = join(dir, 'received.jsonl');
  const conf = join(dir, 'rsyslog.conf');
  const pidFile = join(dir, 'rsyslog.pid');
  await writeFile(conf, [
    `global(workDirectory="${dir}" maxMessageSize="64k")`,
    'module(load="imtcp")',
    `template(name="drainJson" type="string" string="${TEMPLATE.replace(/"/g, '\\"')}")`,
    `input(type="imtcp" address="127.0.0.1" port="${port}" ruleset="drain")`,
    `ruleset(name="drain") { action(type="omfile" file="${file}" template="drainJson") }`,
    '',
  ].join('\n'));
  let child: ChildProcess | null = null;
  let output = '';
  const exited = () => !child || child.exitCode !== null || child.signalCode !== null;
  const waitExit = (c: ChildProcess) => new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r())));
  const r: Rsyslog = {
    port, file,
    pid: () => (exited() ? null : child!.pid ?? null),
    async start() {
      if (!exited()) return;
      // A pid file left by a SIGKILL would make it refuse to start.
      await rm(pidFile, { force: true });
      output = '';
      const c = spawn(RSYSLOGD, ['-n', '-f', conf, '-i', pidFile], { stdio: ['ignore', 'pipe', 'pipe'] });
      child = c;
      c.stdout!.on('data', (d) => (output += d));
      c.stderr!.on('data', (d) => (output += d));
      await waitFor(async () => {
        if (c.exitCode !== null || c.signalCode !== null) throw new Error(`rsyslogd exited (${c.exitCode ?? c.signalCode}): ${output}`);
        return canConnect(port);
      }, { timeoutMs: 15_000, what: `rsyslogd to listen on 127.0.0.1:${port}` });
    },
    async kill() {
      if (exited()) return;
      const c = child!;
      c.kill('SIGKILL');
      await waitExit(c);
    },
    async received() {
      const text = await readFile(file, 'utf8').catch(() => '');
      const out: ReceivedSyslog[] = [];
      for (const line of text.split('\n')) if (line) out.push(JSON.parse(line) as ReceivedSyslog);
      return out;
    },
    async stop() {
      if (exited()) return;
      const c = child!;
      c.kill('SIGTERM');
      const t = setTimeout(() => c.kill('SIGKILL'), 5000);
      await waitExit(c);
      clearTimeout(t);
    },
  };
  await r.start();
  return r;
}
