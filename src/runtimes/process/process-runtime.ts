// The process target: the artifact is an executable run directly on the host, in its own
// process group and working directory, listening on the port Summon allocated.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RuntimeCapability } from '../../core/types.js';
import type {
  ConsoleSink, InstanceSpec, InstanceStatus, Runtime, RuntimeHandle,
} from '../runtime.js';
import { isSameProcess, readProcSample } from '../proc-stats.js';
import { HostProcessRuntime } from '../host-process-runtime.js';
import { forEachLine } from '../line-splitter.js';
import { killProcessesIn } from '../proc-scan.js';

export interface ProcessRuntimeOptions {
  /** Where the runtime records the processes it started, so recover() can find them after a crash. */
  stateDir: string;
  defaultGraceMs?: number;
}

interface Running {
  child: ChildProcess;
  status: InstanceStatus;
  exited: Promise<void>;
  recorded?: Promise<void>;
}

const BASE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export class ProcessRuntime extends HostProcessRuntime<Running> implements Runtime {
  readonly target = 'process' as const;
  private readonly stateDir: string;
  private readonly defaultGraceMs: number;
  private stateDirMade: Promise<void> | undefined;

  constructor(opts: ProcessRuntimeOptions) {
    super();
    if (!opts.stateDir) throw new Error('ProcessRuntime: stateDir is required');
    this.stateDir = join(opts.stateDir, 'process');
    this.defaultGraceMs = opts.defaultGraceMs ?? 10_000;
  }

  async capability(): Promise<RuntimeCapability> {
    return { target: 'process', available: true, reason: 'runs the artifact as a host process' };
  }

  async start(spec: InstanceSpec, sink: ConsoleSink): Promise<RuntimeHandle> {
    await this.claim(spec.id);
    this.stateDirMade ??= mkdir(this.stateDir, { recursive: true }).then(() => undefined);
    await this.stateDirMade;
    const port = String(spec.hostPort);
    const args = spec.args.map((a) => a.replaceAll('{port}', port));
    const env: Record<string, string> = {
      PATH: BASE_PATH,
      HOME: spec.workDir,
      LANG: 'C.UTF-8',
      ...spec.env,
      PORT: port,
      SUMMON_APP: spec.app,
      SUMMON_RELEASE: `v${spec.version}`,
      SUMMON_INSTANCE: spec.id,
    };
    const child = spawn(spec.artifactPath, args, {
      cwd: spec.workDir,
      env,
      detached: true, // own process group: stop() reaches the app's children too
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const status: InstanceStatus = { running: true, pid: child.pid ?? null, exitCode: null, signal: null };
    let resolveExit!: () => void;
    const exited = new Promise<void>((r) => (resolveExit = r));
    const entry: Running = { child, status, exited };
    this.running.set(spec.id, entry);
    forEachLine(child.stdout!, (l) => sink(l, 'stdout'));
    forEachLine(child.stderr!, (l) => sink(l, 'stderr'));
    const spawnError = this.spawned(child);
    child.once('exit', (code, signal) => {
      this.exitedWith(spec.id, status, code, signal);
      const record = join(this.stateDir, `${spec.id}.json`);
      void (entry.recorded ?? Promise.resolve()).then(() => rm(record, { force: true }));
      resolveExit();
      this.notifyExit(spec.id, status);
    });
    const err = await spawnError;
    if (err) {
      this.running.delete(spec.id);
      throw new Error(`could not start ${spec.artifactPath}: ${err.message}`);
    }
    // The record for recover() is written while the app boots, not before start() returns
    // (a cold start waits on this); stop() waits for it, so it never outlives the instance.
    entry.recorded = readProcSample(child.pid!).then((sample) => writeFile(
      join(this.stateDir, `${spec.id}.json`),
      JSON.stringify({ id: spec.id, pid: child.pid, startTicks: sample?.startTicks ?? null }),
    )).catch(() => undefined);
    return { pid: child.pid ?? null, address: '127.0.0.1', port: spec.hostPort };
  }

  async stop(id: string, opts: { graceMs?: number } = {}): Promise<void> {
    const r = this.running.get(id);
    if (!r) return;
    await r.recorded;
    if (r.status.running && r.child.pid) {
      killGroup(r.child.pid, 'SIGTERM');
      const grace = opts.graceMs ?? this.defaultGraceMs;
      const timer = setTimeout(() => killGroup(r.child.pid!, 'SIGKILL'), grace);
      await r.exited;
      clearTimeout(timer);
      // Children the app left behind in its group go too.
      killGroup(r.child.pid, 'SIGKILL');
    }
    this.running.delete(id);
  }


  async recover(agentDir?: string): Promise<string[]> {
    const stopped: string[] = [];
    // An instance spawned in the instant before its record was written (Summon killed right
    // then) has no record, but it runs in its work directory under the agent's instances/:
    // found by that, it is not left running unknown (regression from the SIGKILL property test).
    if (agentDir) killProcessesIn([join(agentDir, 'instances')]);
    let files: string[];
    try {
      files = await readdir(this.stateDir);
    } catch {
      return stopped;
    }
    for (const f of files.filter((x) => x.endsWith('.json'))) {
      const path = join(this.stateDir, f);
      try {
        const rec = JSON.parse(await readFile(path, 'utf8')) as { id: string; pid: number; startTicks: number | null };
        if (rec.startTicks !== null && (await isSameProcess(rec.pid, rec.startTicks))) {
          killGroup(rec.pid, 'SIGKILL');
          stopped.push(rec.id);
        }
      } catch {
        // A record we cannot read names no process we could safely kill.
      }
      await rm(path, { force: true });
    }
    return stopped;
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}
