// Runs one build-step command (`sh -c …`) in its own process group, streaming its output
// line by line. On timeout or abort the whole group is killed — SIGTERM, then SIGKILL after
// a grace period — so background jobs started by a build script die with it. After a
// normal exit the group is killed too: nothing a build starts may outlive the build.
// With `confine`, the command runs confined (isolation/confine.ts) in a cgroup unit of its
// own: the kill reaches every process it started, daemons that left the group included.
import { spawn, type ChildProcess } from 'node:child_process';
import { confinedExit, spawnConfined, terminateConfined, type ConfineRequest, type Confiner } from '../isolation/confine.js';
import type { CgroupUnit } from '../isolation/cgroups.js';

export interface RunCommandOptions {
  command: string;
  cwd: string;
  env: Record<string, string>;
  timeoutMs: number;
  onLine?: (line: string) => void;
  signal?: AbortSignal;
  /** Between SIGTERM and SIGKILL. */
  killGraceMs?: number;
  /** How many trailing lines to keep for error messages. */
  tailLines?: number;
  /** How much output to keep in `output` (the rest is streamed only). */
  captureBytes?: number;
  /** Told the new process group's id as soon as it exists (build-recovery.ts records it). */
  onSpawn?: (pgid: number) => void;
  /** Run confined as `app`'s user in the unit `unit` (bind mounts, network and limits as given). */
  confine?: { confiner: Confiner } & Omit<ConfineRequest, 'command' | 'cwd'>;
}

export interface CommandResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  aborted: boolean;
  /** Confined: the kernel's OOM killer ended a process of the step (over its memory limit). */
  oomKilled?: boolean;
  durationMs: number;
  output: string;
  tail: string[];
}

const MAX_LINE = 8192;

export async function runCommand(opts: RunCommandOptions): Promise<CommandResult> {
  let unit: CgroupUnit | undefined;
  let child: ChildProcess;
  if (opts.confine) {
    const { confiner, ...req } = opts.confine;
    const prepared = await confiner.prepare({ ...req, command: ['/bin/sh', '-c', opts.command], cwd: opts.cwd });
    unit = prepared.unit;
    child = spawnConfined(prepared, opts.env);
  } else {
    child = spawn('/bin/sh', ['-c', opts.command], {
      cwd: opts.cwd,
      env: opts.env,
      // A new session, hence a new process group we can signal as a whole.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }
  const r = await watchCommand(opts, child, unit);
  if (unit) {
    // What the step left running dies with its unit before the next step starts.
    await unit.killAll();
    if (await unit.oomKilled()) r.oomKilled = true;
    await unit.remove();
  }
  return r;
}

function watchCommand(opts: RunCommandOptions, child: ChildProcess, unit: CgroupUnit | undefined): Promise<CommandResult> {
  const started = Date.now();
  const tailMax = opts.tailLines ?? 20;
  const captureMax = opts.captureBytes ?? 64 * 1024;
  const tail: string[] = [];
  let output = '';
  const emit = (line: string) => {
    tail.push(line);
    if (tail.length > tailMax) tail.shift();
    if (output.length < captureMax) output += line + '\n';
    opts.onLine?.(line);
  };

  return new Promise((resolveResult) => {
    if (child.pid !== undefined) opts.onSpawn?.(child.pid);
    let timedOut = false;
    let aborted = false;
    let exitCode: number | null = null;
    let exitSignal: NodeJS.Signals | null = null;
    let killTimer: NodeJS.Timeout | undefined;
    let closeTimer: NodeJS.Timeout | undefined;
    let settled = false;

    const killGroup = (sig: NodeJS.Signals) => {
      if (child.pid === undefined) return;
      if (unit) {
        void (sig === 'SIGKILL' ? unit.killAll() : terminateConfined(unit, child.pid));
        return;
      }
      try {
        process.kill(-child.pid, sig);
      } catch {
        // ESRCH: the group is already gone.
      }
    };
    const stop = () => {
      killGroup('SIGTERM');
      killTimer ??= setTimeout(() => killGroup('SIGKILL'), opts.killGraceMs ?? 3000);
    };

    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, opts.timeoutMs);
    const onAbort = () => {
      aborted = true;
      stop();
    };
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });

    const splitter = () => {
      let buf = '';
      return {
        data(chunk: string) {
          buf += chunk;
          let i: number;
          while ((i = buf.search(/\r?\n/)) >= 0) {
            emit(buf.slice(0, i));
            buf = buf.slice(buf[i] === '\r' ? i + 2 : i + 1);
          }
          // Output without newlines (progress bars) still has to reach the pusher.
          while (buf.length > MAX_LINE) {
            emit(buf.slice(0, MAX_LINE));
            buf = buf.slice(MAX_LINE);
          }
        },
        end() {
          if (buf.length > 0) emit(buf);
          buf = '';
        },
      };
    };
    const so = splitter();
    const se = splitter();
    const stdout = child.stdout!;
    const stderr = child.stderr!;
    stdout.setEncoding('utf8');
    stderr.setEncoding('utf8');
    stdout.on('data', so.data);
    stderr.on('data', se.data);

    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(killTimer);
      clearTimeout(closeTimer);
      opts.signal?.removeEventListener('abort', onAbort);
      so.end();
      se.end();
      resolveResult({
        exitCode,
        signal: exitSignal,
        timedOut,
        aborted,
        durationMs: Date.now() - started,
        output,
        tail,
      });
    };

    child.on('error', (e) => {
      emit(`could not start sh: ${e.message}`);
      exitCode = 127;
      finish();
    });
    child.on('exit', (rawCode, rawSig) => {
      const { code, signal: sig } = unit ? confinedExit(rawCode, rawSig) : { code: rawCode, signal: rawSig };
      exitCode = code;
      exitSignal = sig;
      // Leftover background jobs would keep the pipes open (and keep running): end them.
      killGroup('SIGKILL');
      // A process that left our group (setsid) could still hold the pipes; don't wait forever.
      closeTimer = setTimeout(() => {
        stdout.destroy();
        stderr.destroy();
        finish();
      }, 2000);
    });
    child.on('close', finish);
  });
}
