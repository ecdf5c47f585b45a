// The VM runtimes a node offers beside the process runtime: qemu and the two solo5 tenders.
// Each one reports on its own whether it can run here (capability()), so they are always
// offered; `summon hosts` says which work and why.
import type { Runtime } from './runtime.js';
import { QemuRuntime } from './qemu/qemu-runtime.js';
import { Solo5Runtime } from './solo5/solo5-runtime.js';
import { TapPool } from './tap-net.js';
import { TapDhcp } from './tap-dhcp.js';
import { join } from 'node:path';
import type { Confiner } from '../isolation/confine.js';

export interface VmNetworkOptions {
  /** The /16 tap instances take their /30s from (default 10.201.0.0). */
  subnetBase?: string;
  /** The qemu runtime's networking when an app's [run].network does not say (default auto). */
  network?: 'auto' | 'tap' | 'user';
  /** A remote agent's VMs are reached by a router on another host: QEMU forwards each
   *  instance's port on this address, and only qemu is offered (solo5 guests sit on taps). */
  forwardAddress?: string;
  /** Runs QEMU and the tenders as each app's user, without capabilities, in a cgroup unit. */
  confiner?: Confiner;
  /** Summon's log: a tap's DHCP server that died and was restarted. */
  onWarn?: (msg: string, data?: Record<string, unknown>) => void;
}

export async function vmRuntimes(stateDir: string, net: VmNetworkOptions = {}): Promise<Runtime[]> {
  // One pool of tap slots for every VM runtime of this host, each tap with its DHCP server
  // (DATA/dhcp: pid and lease files). A remote agent's VMs use the user-mode network only.
  let dhcp: TapDhcp | undefined;
  if (!net.forwardAddress) {
    dhcp = new TapDhcp({ dir: join(stateDir, 'dhcp'), ...(net.onWarn ? { onWarn: net.onWarn } : {}) });
    // What a SIGKILLed run of Summon on this DATA left serving.
    await dhcp.recover();
  }
  const taps = new TapPool({ ...(net.subnetBase ? { subnetBase: net.subnetBase } : {}), ...(dhcp ? { dhcp } : {}) });
  const qemu = new QemuRuntime({
    stateDir, taps, ...(net.network ? { network: net.network } : {}), ...(net.forwardAddress ? { forwardAddress: net.forwardAddress } : {}),
    ...(net.confiner ? { confiner: net.confiner } : {}),
  });
  // The KVM probe boots a guest (up to ~10 s when KVM hangs) and is cached in stateDir: start
  // it now in the background so `summon up` does not wait for it and the first push or
  // `summon hosts` usually finds the answer ready. capability() shares this probe.
  void qemu.capability().catch(() => undefined);
  if (net.forwardAddress) return [qemu];
  const confiner = net.confiner ? { confiner: net.confiner } : {};
  return [qemu, new Solo5Runtime({ target: 'solo5-hvt', stateDir, taps, ...confiner }), new Solo5Runtime({ target: 'solo5-spt', stateDir, taps, ...confiner })];
}
