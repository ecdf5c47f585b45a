// What the control plane needs from the agent of one host, whether that agent runs in the
// same process (Agent) or on another machine behind the agent protocol (RemoteAgent). The
// controller, the release service and the API see only this.
import type { Arch, Instance, RuntimeCapability, Target } from '../core/types.js';
import type { DesiredInstance } from './agent.js';

export interface HostLink {
  /** local: in this process; connected / unreachable: a remote agent and how its link is. */
  state: 'local' | 'connected' | 'unreachable';
  /** The agent's URL (remote agents). */
  url?: string;
  /** The address the router reaches this host's instances at. */
  address: string;
  /** Since when the link is in this state (ms since the epoch). */
  since: number;
  /** Why the host is unreachable. */
  error?: string;
}

/** Whether the host's agent can be reached now (the local one always can). */
export function isReachable(a: HostAgent): boolean {
  return a.link().state !== 'unreachable';
}

export interface HostAgent {
  readonly hostId: string;
  /** Replaces the host's whole desired set; the agent starts what is new and stops what is gone. */
  setDesired(list: DesiredInstance[]): Promise<void>;
  /** The desired set the agent holds (what it resumed from disk, or was last given). */
  desiredSet(): DesiredInstance[];
  instances(): Instance[];
  capabilities(): Promise<RuntimeCapability[]>;
  /** Whether the host has an available runtime for target (that runs arch, natively or
   *  emulated, when arch is given), from what is known now (no I/O). */
  offers(target: Target, arch?: Arch): boolean;
  link(): HostLink;
}
