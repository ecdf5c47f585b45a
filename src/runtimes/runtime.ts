// One Runtime interface for every way of running an instance: process, qemu, solo5.
// Each implementation runs runtime.contract.ts. The agent is the only caller.
import type { RuntimeCapability, Target } from '../core/types.js';

export interface InstanceSpec {
  id: string;
  app: string;
  version: number;
  target: Target;
  /** Absolute path of the artifact (kernel, disk image, executable) in the blob store. Never written to. */
  artifactPath: string;
  /** qemu with a kernel artifact: absolute path of the initrd. */
  initrdPath?: string;
  /** [run].args; "{port}" is substituted with the port the instance must listen on. */
  args: string[];
  /** Config vars: environment (process), fw_cfg opt/summon/env (qemu) or the summon_env block device (solo5). */
  env: Record<string, string>;
  /** The port the app listens on inside a VM ([run].port). Ignored by the process target. */
  guestPort: number;
  memoryBytes: number;
  /** [run].cpu: cores the instance may use (a cgroup CPU quota where the runtime confines). */
  cpu?: number;
  /** Extra kernel command line for VM targets ([run].cmdline). */
  cmdline?: string;
  /** VM targets: tap (own device and /30, the router reaches the guest's address) or user
   *  (QEMU's user-mode network forwarding hostPort). Absent: tap where the host can, else user. */
  network?: 'tap' | 'user';
  /** A directory owned by this instance (working directory, sockets, pid files). Exists before start. */
  workDir: string;
  /** Host port allocated by the agent; the router connects to address:hostPort. */
  hostPort: number;
}

export interface RuntimeHandle {
  pid: number | null;
  address: string;
  port: number;
  /**
   * What becomes of a health check sent before the instance listens, which decides how the
   * agent checks a starting instance:
   *  - refused: refused at once (a host process on loopback): check again right away;
   *  - dropped: lost until the guest's network is up, then refused (a tap device): overlap
   *    many cheap checks, each waiting in SYN-SENT;
   *  - held: accepted by the host side and held while the guest boots (QEMU's user-mode
   *    network): overlap a few, since each one held costs the emulator work.
   * Absent means refused.
   */
  unanswered?: 'refused' | 'dropped' | 'held';
}

export interface InstanceStatus {
  running: boolean;
  pid: number | null;
  exitCode: number | null;
  signal: string | null;
  /** The kernel's OOM killer ended it: it went over its memory limit. */
  oomKilled?: boolean;
}

export interface InstanceStats {
  /** CPU since the previous sample, in cores (1.0 = one core fully busy). */
  cpu: number;
  memoryBytes: number;
}

export type ConsoleStream = 'stdout' | 'stderr' | 'console';
export type ConsoleSink = (line: string, stream: ConsoleStream) => void;
export type ExitListener = (id: string, status: InstanceStatus) => void;

/** What the agent saw of an instance that never became healthy, for Runtime.diagnose. */
export interface UnhealthyStart {
  /** The last health check: refused means the guest's network stack sent a reset. */
  lastCheck: { refused: boolean; answered: boolean; detail: string } | null;
  /** The instance's last console (and VMM) lines, oldest first. */
  consoleTail: string[];
}

export interface Runtime {
  readonly target: Target;
  /** Whether this runtime works on this host and why (cached after the first call). */
  capability(): Promise<RuntimeCapability>;
  /** Starts the instance; resolves once it is launched (not necessarily healthy). */
  start(spec: InstanceSpec, console: ConsoleSink): Promise<RuntimeHandle>;
  /** Asks the instance to stop, forces it after graceMs; resolves once it has exited. */
  stop(id: string, opts?: { graceMs?: number }): Promise<void>;
  inspect(id: string): InstanceStatus | undefined;
  stats(id: string): Promise<InstanceStats | undefined>;
  /** Called once for every instance that exits (including after stop()). */
  onExit(listener: ExitListener): void;
  /**
   * Cleans up after a previous run of this runtime in `stateDir` (a stop of Summon, or kill -9):
   * instances it left behind are stopped, but those in `keep` (the agent's saved desired set)
   * that a runtime can adopt stay running, and start() of one of them takes it over (same pid
   * and port) instead of starting it anew. Returns the ids it stopped.
   */
  recover(stateDir: string, keep?: ReadonlySet<string>): Promise<string[]>;
  /** Lets go of the running instances without stopping them (Summon stops and leaves them
   *  for the next start to adopt): their console is no longer read here. */
  detach?(): Promise<void>;
  /**
   * Why a running instance never answered its health checks, as the runtime can see it (a
   * VM's DHCP exchange, ARP, its port), with the ways to fix it; undefined when it has
   * nothing to add. Asked once, before the agent gives the start up.
   */
  diagnose?(id: string, seen: UnhealthyStart): Promise<string | undefined>;
}
