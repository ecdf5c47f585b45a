// What every runtime that runs one host process per instance shares (the app itself, QEMU,
// a Solo5 tender): the table of running instances, exit listeners, and CPU/memory from /proc.
import type { ChildProcess } from 'node:child_process';
import type { ExitListener, InstanceStats, InstanceStatus } from './runtime.js';
import { CpuMeter } from './proc-stats.js';
import { ConflictError } from '../core/errors.js';

export interface HostProcess {
  /** Only its pid is read here (an instance adopted from a previous run has no ChildProcess). */
  child: Pick<ChildProcess, 'pid'>;
  status: InstanceStatus;
  exited: Promise<void>;
}

export abstract class HostProcessRuntime<R extends HostProcess> {
  protected readonly running = new Map<string, R>();
  protected readonly meter = new CpuMeter();
  private readonly listeners: ExitListener[] = [];

  inspect(id: string): InstanceStatus | undefined {
    const r = this.running.get(id);
    return r ? { ...r.status } : undefined;
  }

  async stats(id: string): Promise<InstanceStats | undefined> {
    const r = this.running.get(id);
    if (!r?.status.running || !r.child.pid) return undefined;
    return this.meter.sample(id, r.child.pid);
  }

  onExit(listener: ExitListener): void {
    this.listeners.push(listener);
  }

  /** Makes `id` free to start: refuses while it runs; after it exited on its own (crash,
   *  kill, poweroff) waits for that exit to be fully handled, so the agent can restart it
   *  under the same id. */
  protected async claim(id: string): Promise<void> {
    const prev = this.running.get(id);
    if (prev?.status.running) throw new ConflictError(`instance ${id} is already running; stop it first`);
    if (prev) {
      await prev.exited;
      this.running.delete(id);
    }
  }

  /** Records an exit in the instance's status and drops its CPU baseline. */
  protected exitedWith(id: string, status: InstanceStatus, code: number | null, signal: NodeJS.Signals | null): void {
    status.running = false;
    status.exitCode = code;
    status.signal = signal;
    this.meter.forget(id);
  }

  /** Resolves once the child is running (null) or could not be spawned (the error). */
  protected spawned(child: ChildProcess): Promise<Error | null> {
    return new Promise((resolve) => {
      child.once('spawn', () => resolve(null));
      child.once('error', (e) => resolve(e));
    });
  }

  /** Tells every listener that `id` exited. */
  protected notifyExit(id: string, status: InstanceStatus): void {
    for (const l of this.listeners) l(id, { ...status });
  }
}
