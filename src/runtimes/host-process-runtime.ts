// What every runtime that runs one host process per instance shares (the app itself, QEMU,
// a Solo5 tender): the table of running instances, exit listeners, and CPU/memory from /proc.
import type { ChildProcess } from 'node:child_process';
import type { ExitListener, InstanceStats, InstanceStatus } from './runtime.js';
import { CpuMeter } from './proc-stats.js';

export interface HostProcess {
  child: ChildProcess;
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
