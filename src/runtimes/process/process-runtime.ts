// The process target: the artifact is an executable run on the host, in its own process
// group and working directory, listening on the port Summon allocated. With a Confiner
// (isolation/confine.ts; what `summon up` uses) it runs as the app's own user in bubblewrap,
// in a cgroup unit that holds [run].memory, [run].cpu and a pids limit: an instance over its
// memory is OOM-killed and reported so; a stop reaches every process it started.
//
// Instances outlive Summon: their stdout and stderr are FIFOs (console-fifo.ts), not pipes to
// this process, and recover() keeps the ones the agent will ask for again, which start() then
// adopts (same pid, same port) instead of starting anew; an adopted instance is not this
// process's child, so its exit is found by polling /proc.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync } from 'node:fs';
import type { Socket } from 'node:net';
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
import { ConsoleFifos, consolePaths, readerOf, removeConsole, writerFds } from '../console-fifo.js';
import { confinedExit, spawnConfined, terminateConfined, type Confiner } from '../../isolation/confine.js';
import type { CgroupUnit } from '../../isolation/cgroups.js';
import { CLEAN_PATH } from '../../isolation/clean-path.js';

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
  /** An adopted instance has no ChildProcess: this holds only its pid. */
  child: Pick<ChildProcess, 'pid'>;
  /** This process's read ends of the instance's console FIFOs. */
  console: Socket[];
  status: InstanceStatus;
  exited: Promise<void>;
  recorded?: Promise<void>;
  unit?: CgroupUnit;
  /** Adopted: its start time in ticks, checked by the exit poll; resolves `exited`. */
  adopted?: { startTicks: number; gone: () => void };
}

/** What recover() leaves running for start() to adopt. */
interface InstanceRecord {
  id: string;
  pid: number;
  startTicks: number | null;
  port?: number;
}

/** How often the exits of adopted instances (not this process's children) are looked for. */
const ADOPTED_POLL_MS = 200;


export class ProcessRuntime extends HostProcessRuntime<Running> implements Runtime {
  readonly target = 'process' as const;
  private readonly stateDir: string;
  private readonly defaultGraceMs: number;
  private readonly confiner: Confiner | undefined;
  private stateDirMade: Promise<void> | undefined;
  private readonly fifos: ConsoleFifos;
  private readonly adoptable = new Map<string, InstanceRecord>();
  private pollTimer: NodeJS.Timeout | null = null;

  constructor(opts: ProcessRuntimeOptions) {
    super();
    if (!opts.stateDir) throw new Error('ProcessRuntime: stateDir is required');
    this.stateDir = join(opts.stateDir, 'process');
    this.defaultGraceMs = opts.defaultGraceMs ?? 10_000;
    this.confiner = opts.confiner;
    this.fifos = new ConsoleFifos(this.stateDir);
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
    const kept = this.adoptable.get(spec.id);
    if (kept) {
      this.adoptable.delete(spec.id);
      const handle = await this.adopt(kept, sink);
      if (handle) return handle;
      // Not adoptable after all (its console is gone): it must not go on running unknown
      // beside the new one (a confined one's unit is emptied when it is made again below).
      if (kept.startTicks !== null && (await isSameProcess(kept.pid, kept.startTicks))) killGroup(kept.pid, 'SIGKILL');
    }
    const port = String(spec.hostPort);
    const args = spec.args.map((a) => a.replaceAll('{port}', port));
    const env: Record<string, string> = {
      PATH: CLEAN_PATH,
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
    const fifo = await this.fifos.take(spec.id);
    const [outFd, errFd] = writerFds(fifo);
    const out = readerOf(fifo.out);
    const err = readerOf(fifo.err);
    if (this.confiner) {
      const prepared = await this.confiner.prepare({
        // The artifact shows at one fixed path, so the sandbox holds nothing of the blob store's layout.
        unit: spec.id, app: spec.app, command: [CONFINED_ARTIFACT, ...args], cwd: spec.workDir,
        rw: [spec.workDir], ro: [], roAt: [{ from: spec.artifactPath, to: CONFINED_ARTIFACT }], network: 'host',
        limits: { memoryBytes: spec.memoryBytes, ...(spec.cpu !== undefined ? { cpu: spec.cpu } : {}), pids: INSTANCE_PIDS_LIMIT },
      });
      await this.confiner.own(spec.workDir, prepared.uid);
      unit = prepared.unit;
      child = spawnConfined(prepared, env, [outFd, errFd]);
    } else {
      child = spawn(spec.artifactPath, args, {
        cwd: spec.workDir,
        env,
        detached: true, // own process group: stop() reaches the app's children too, and Ctrl-C on Summon's terminal does not
        stdio: ['ignore', outFd, errFd],
      });
    }
    // The instance holds its own ends now.
    closeSync(outFd);
    closeSync(errFd);
    const status: InstanceStatus = { running: true, pid: child.pid ?? null, exitCode: null, signal: null };
    let resolveExit!: () => void;
    const exited = new Promise<void>((r) => (resolveExit = r));
    const entry: Running = { child, status, exited, console: [out, err], ...(unit ? { unit } : {}) };
    this.running.set(spec.id, entry);
    forEachLine(out, (l) => sink(l, 'stdout'));
    forEachLine(err, (l) => sink(l, 'stderr'));
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
        removeConsole(fifo);
        resolveExit();
        this.notifyExit(spec.id, status);
      })();
    });
    const failed = await spawnError;
    if (failed) {
      this.running.delete(spec.id);
      out.destroy();
      err.destroy();
      removeConsole(fifo);
      await unit?.remove().catch(() => undefined);
      throw new Error(`could not start ${spec.artifactPath}: ${failed.message}`);
    }
    // The record for recover() is written while the app boots, not before start() returns
    // (a cold start waits on this); stop() waits for it, so it never outlives the instance.
    entry.recorded = readProcSample(child.pid!).then((sample) => writeFile(
      join(this.stateDir, `${spec.id}.json`),
      JSON.stringify({ id: spec.id, pid: child.pid!, startTicks: sample?.startTicks ?? null, port: spec.hostPort } satisfies InstanceRecord),
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
    const kept = this.adoptable.get(id);
    if (kept) {
      // Kept by recover() for an adoption that is not coming (its start refused, or the
      // instance removed first): it must not run on unknown.
      this.adoptable.delete(id);
      if (kept.startTicks !== null && (await isSameProcess(kept.pid, kept.startTicks))) killGroup(kept.pid, 'SIGKILL');
      if (this.confiner) await this.confiner.cgroups.existing(id).killAll().catch(() => undefined);
      await rm(join(this.stateDir, `${id}.json`), { force: true });
      removeConsole(consolePaths(this.stateDir, id));
    }
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


  /**
   * What a previous run left: the instances named in `keep` that still run are kept for
   * start() to adopt; every other recorded one is killed, and so is anything else running in
   * an instance's work directory. Returns the ids killed.
   */
  async recover(agentDir?: string, keep: ReadonlySet<string> = new Set()): Promise<string[]> {
    const stopped: string[] = [];
    let files: string[] = [];
    try {
      files = await readdir(this.stateDir);
    } catch {
      // nothing recorded
    }
    // Spare console FIFOs a previous run made ahead and never used.
    for (const f of files.filter((x) => x.startsWith('.spare-'))) await rm(join(this.stateDir, f), { force: true });
    const keptGroups = new Set<number>();
    const keptUnitPids = new Set<number>();
    for (const f of files.filter((x) => x.endsWith('.json'))) {
      const path = join(this.stateDir, f);
      let rec: InstanceRecord | null = null;
      try {
        rec = JSON.parse(await readFile(path, 'utf8')) as InstanceRecord;
      } catch {
        // A record we cannot read names no process we could safely kill.
      }
      const alive = rec !== null && rec.startTicks !== null && (await isSameProcess(rec.pid, rec.startTicks));
      if (rec && alive && keep.has(rec.id) && typeof rec.port === 'number') {
        this.adoptable.set(rec.id, rec);
        keptGroups.add(rec.pid);
        if (this.confiner) for (const p of await this.confiner.cgroups.existing(rec.id).pids()) keptUnitPids.add(p);
        continue;
      }
      if (rec && alive) {
        killGroup(rec.pid, 'SIGKILL');
        stopped.push(rec.id);
      }
      if (rec) removeConsole(consolePaths(this.stateDir, rec.id));
      await rm(path, { force: true });
    }
    // An instance spawned in the instant before its record was written (Summon killed right
    // then) has no record, but it runs in its work directory under the agent's instances/:
    // found by that, it is not left running unknown (regression from the SIGKILL property test).
    // What belongs to a kept instance (its process group, or its cgroup unit) stays.
    if (agentDir) killProcessesIn([join(agentDir, 'instances')], undefined, (pid, info) => keptGroups.has(info.pgrp) || keptUnitPids.has(pid));
    return stopped;
  }

  /** Takes over an instance a previous run started (recover() kept it): reads its console
   *  FIFOs again and watches for its exit. Undefined when it is gone meanwhile. */
  private async adopt(rec: InstanceRecord, sink: ConsoleSink): Promise<RuntimeHandle | undefined> {
    if (rec.startTicks === null || typeof rec.port !== 'number' || !(await isSameProcess(rec.pid, rec.startTicks))) return undefined;
    const fifo = consolePaths(this.stateDir, rec.id);
    let out;
    let err;
    try {
      out = readerOf(fifo.out);
      err = readerOf(fifo.err);
    } catch {
      out?.destroy();
      return undefined; // no console to read: start it anew
    }
    forEachLine(out, (l) => sink(l, 'stdout'));
    forEachLine(err, (l) => sink(l, 'stderr'));
    const status: InstanceStatus = { running: true, pid: rec.pid, exitCode: null, signal: null };
    let gone!: () => void;
    const exited = new Promise<void>((r) => (gone = r));
    const unit = this.confiner ? this.confiner.cgroups.existing(rec.id) : undefined;
    const entry: Running = { child: { pid: rec.pid }, status, exited, console: [out, err], adopted: { startTicks: rec.startTicks, gone }, ...(unit ? { unit } : {}) };
    this.running.set(rec.id, entry);
    void exited.then(async () => {
      if (unit) {
        if (await unit.oomKilled()) status.oomKilled = true;
        await unit.remove().catch(() => undefined);
      }
      // Not our child: no exit status to read.
      this.exitedWith(rec.id, status, null, null);
      await rm(join(this.stateDir, `${rec.id}.json`), { force: true });
      removeConsole(fifo);
      this.notifyExit(rec.id, status);
    });
    this.pollTimer ??= setInterval(() => void this.pollAdopted(), ADOPTED_POLL_MS);
    this.pollTimer.unref();
    return { pid: rec.pid, address: '127.0.0.1', port: rec.port };
  }

  async detach(): Promise<void> {
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = null;
    for (const r of this.running.values()) {
      // Its record and FIFOs stay for the next start; this process no longer reads or reaps it.
      for (const s of r.console) s.destroy();
      // A child of this process (not one adopted) would otherwise keep this process from exiting.
      if ('unref' in r.child) {
        const child = r.child as ChildProcess;
        child.removeAllListeners('exit');
        child.unref();
      }
    }
    this.running.clear();
    await this.fifos.close();
  }

  private async pollAdopted(): Promise<void> {
    let any = false;
    for (const r of this.running.values()) {
      const a = r.adopted;
      if (!a || !r.status.running) continue;
      any = true;
      if (!(await isSameProcess(r.child.pid!, a.startTicks))) {
        r.status.running = false;
        a.gone();
      }
    }
    if (!any && this.pollTimer) {
      clearInterval(this.pollTimer);
      this.pollTimer = null;
    }
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}
