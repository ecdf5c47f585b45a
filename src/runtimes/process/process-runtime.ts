// The process target: the artifact is an executable run on the host, in its own process
// group and working directory, listening on the port Summon allocated. With a Confiner
// (isolation/confine.ts; what `summon up` uses) it runs as the app's own user in bubblewrap,
// in a cgroup unit that holds [run].memory, [run].cpu and a pids limit: an instance over its
// memory is OOM-killed and reported so; a stop reaches every process it started.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hostArch } from '../../core/arch.js';
import type { RuntimeCapability } from '../../core/types.js';
import type {
  ConsoleSink, InstanceSpec, InstanceStats, InstanceStatus, Runtime, RuntimeHandle,
} from '../runtime.js';
import { isSameProcess, readProcSample } from '../proc-stats.js';
import { HostProcessRuntime } from '../host-process-runtime.js';
import { forEachLine } from '../line-splitter.js';
import { killProcessesIn } from '../proc-scan.js';
import { confinedExit, spawnConfined, terminateConfined, type Confiner } from '../../isolation/confine.js';
import type { CgroupUnit } from '../../isolation/cgroups.js';

/** Tasks (processes and threads) one confined instance may have at once. */
export const INSTANCE_PIDS_LIMIT = 512;
/** Where a confined instance sees its artifact (read-only). */
export const CONFINED_ARTIFACT = '/app/artifact';

export interface ProcessRuntimeOptions {
  /** Where the runtime records the processes it started, so recover() can find them after a crash. */
  stateDir: string;
  defaultGraceMs?: number;
  /** Runs each instance confined (as its app's user, in bubblewrap and a cgroup unit). */
  confiner?: Confiner;
}

interface Running {
  child: ChildProcess;
  status: InstanceStatus;
  exited: Promise<void>;
  recorded?: Promise<void>;
  unit?: CgroupUnit;
}

const BASE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export class ProcessRuntime extends HostProcessRuntime<Running> implements Runtime {
  readonly target = 'process' as const;
  private readonly stateDir: string;
  private readonly defaultGraceMs: number;
  private readonly confiner: Confiner | undefined;
  private stateDirMade: Promise<void> | undefined;

  constructor(opts: ProcessRuntimeOptions) {
    super();
    if (!opts.stateDir) throw new Error('ProcessRuntime: stateDir is required');
    this.stateDir = join(opts.stateDir, 'process');
    this.defaultGraceMs = opts.defaultGraceMs ?? 10_000;
    this.confiner = opts.confiner;
  }

  async capability(): Promise<RuntimeCapability> {
    const arch = hostArch();
    return {
      target: 'process', available: true,
      // A process runs on the host's own CPU (no emulation of another architecture).
      ...(arch ? { arches: [{ arch, native: true }] } : {}),
      reason: this.confiner ? 'runs the artifact as its app\'s user, confined (bubblewrap, seccomp, cgroups)' : 'runs the artifact as a host process, unconfined',
    };
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
    let unit: CgroupUnit | undefined;
    let child: ChildProcess;
    if (this.confiner) {
      const prepared = await this.confiner.prepare({
        // The artifact shows at one fixed path, so the sandbox holds nothing of the blob store's layout.
        unit: spec.id, app: spec.app, command: [CONFINED_ARTIFACT, ...args], cwd: spec.workDir,
        rw: [spec.workDir], ro: [], roAt: [{ from: spec.artifactPath, to: CONFINED_ARTIFACT }], network: 'host',
        limits: { memoryBytes: spec.memoryBytes, ...(spec.cpu !== undefined ? { cpu: spec.cpu } : {}), pids: INSTANCE_PIDS_LIMIT },
      });
      await this.confiner.own(spec.workDir, prepared.uid);
      unit = prepared.unit;
      child = spawnConfined(prepared, env);
    } else {
      child = spawn(spec.artifactPath, args, {
        cwd: spec.workDir,
        env,
        detached: true, // own process group: stop() reaches the app's children too
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    }
    const status: InstanceStatus = { running: true, pid: child.pid ?? null, exitCode: null, signal: null };
    let resolveExit!: () => void;
    const exited = new Promise<void>((r) => (resolveExit = r));
    const entry: Running = { child, status, exited, ...(unit ? { unit } : {}) };
    this.running.set(spec.id, entry);
    forEachLine(child.stdout!, (l) => sink(l, 'stdout'));
    forEachLine(child.stderr!, (l) => sink(l, 'stderr'));
    const spawnError = this.spawned(child);
    child.once('exit', (rawCode, rawSignal) => {
      void (async () => {
        const { code, signal } = unit ? confinedExit(rawCode, rawSignal) : { code: rawCode, signal: rawSignal };
        if (unit) {
          // What the app left running goes with it; the kernel says whether it ran out of memory.
          if (await unit.oomKilled()) status.oomKilled = true;
          await unit.remove().catch(() => undefined);
        }
        this.exitedWith(spec.id, status, code, signal);
        const record = join(this.stateDir, `${spec.id}.json`);
        void (entry.recorded ?? Promise.resolve()).then(() => rm(record, { force: true }));
        resolveExit();
        this.notifyExit(spec.id, status);
      })();
    });
    const err = await spawnError;
    if (err) {
      this.running.delete(spec.id);
      await unit?.remove().catch(() => undefined);
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

  async stats(id: string): Promise<InstanceStats | undefined> {
    const r = this.running.get(id);
    if (!r?.unit || !r.status.running) return super.stats(id);
    // Confined, the child is bwrap: the app and what it started are the unit's processes.
    return this.meter.sampleGroup(id, await r.unit.pids());
  }

  async stop(id: string, opts: { graceMs?: number } = {}): Promise<void> {
    const r = this.running.get(id);
    if (!r) return;
    await r.recorded;
    if (r.status.running && r.child.pid) {
      const unit = r.unit;
      if (unit) await terminateConfined(unit, r.child.pid);
      else killGroup(r.child.pid, 'SIGTERM');
      const grace = opts.graceMs ?? this.defaultGraceMs;
      // The unit holds everything the app started; the group is killed too, should the unit
      // hold nothing (a host whose cgroups this process cannot see).
      const timer = setTimeout(() => void (unit?.killAll() ?? Promise.resolve()).then(() => killGroup(r.child.pid!, 'SIGKILL')), grace);
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
