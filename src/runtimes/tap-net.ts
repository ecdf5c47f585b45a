// Tap networking for VM instances (qemu, solo5). Each instance gets its own tap device and
// its own /30 out of one /16: the host side is .1, the guest .2, so guests cannot reach
// each other and the router connects straight to the guest's address and port.
//
// The host is told the guest's MAC address up front (a permanent neighbour entry), so the
// first packet to a booting guest never waits on ARP: once the guest's interface is up, a
// connection to a port nobody listens on yet is refused at once, and the agent can check
// every millisecond until the app listens.
import { spawn } from 'node:child_process';
import { access, chmod, constants, readFile, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { InvalidInputError } from '../core/errors.js';
import type { DhcpSeen, TapDhcp } from './tap-dhcp.js';

export interface TapNetwork {
  tap: string;
  hostAddress: string;
  guestAddress: string;
  prefix: number;
  /** The guest NIC's MAC address (locally administered), fixed so the host knows it ahead. */
  mac: string;
  slot: number;
}

/** Runs `ip` with args, feeding `input` on stdin (for `ip -batch -`); rejects with ip's words. */
export type IpRunner = (args: string[], input?: string) => Promise<void>;

export const DEFAULT_SUBNET_BASE = '10.201.0.0';
/** A /16 holds this many /30s. */
const SLOTS = 16384;
const TAP_PREFIX = 'smn';
/** The names this module gives taps (and, for recover(), the older hashed names). */
export const TAP_NAME_RE = /^smn(?:[0-9a-f]{4}|[0-9a-f]{10})$/;

export function parseSubnetBase(subnetBase: string): [number, number] {
  const o = subnetBase.split('.').map(Number);
  if (o.length !== 4 || o.some((x) => !Number.isInteger(x) || x < 0 || x > 255) || o[2] !== 0 || o[3] !== 0) {
    throw new InvalidInputError(
      `subnetBase must be the first address of a /16 like ${DEFAULT_SUBNET_BASE}, got ${JSON.stringify(subnetBase)}`,
    );
  }
  return [o[0], o[1]];
}

/** The tap name, addresses and MAC of one slot: a pure function, so they are never stored twice. */
export function tapNetwork(slot: number, subnetBase = DEFAULT_SUBNET_BASE): TapNetwork {
  if (!Number.isInteger(slot) || slot < 0 || slot >= SLOTS) throw new InvalidInputError(`tap slot must be 0..${SLOTS - 1}, got ${slot}`);
  const [a, b] = parseSubnetBase(subnetBase);
  const third = Math.floor((slot * 4) / 256);
  const fourth = (slot * 4) % 256;
  const hex = slot.toString(16).padStart(4, '0');
  return {
    tap: `${TAP_PREFIX}${hex}`,
    hostAddress: `${a}.${b}.${third}.${fourth + 1}`,
    guestAddress: `${a}.${b}.${third}.${fourth + 2}`,
    prefix: 30,
    mac: `02:53:4d:00:${hex.slice(0, 2)}:${hex.slice(2)}`,
    slot,
  };
}

export interface TapPoolOptions {
  subnetBase?: string;
  ip?: IpRunner;
  /** Whether a network interface of this name exists on the host (tests substitute). */
  interfaceExists?: (name: string) => boolean;
  tunDevice?: string;
  /** Serves DHCP on each tap (tap-dhcp.ts), so a guest that asks gets its address and gateway. */
  dhcp?: TapDhcp;
}

/**
 * Hands out tap slots. Within a process the pool remembers what it gave; across processes
 * on one host (several Summons, tests in parallel) a slot whose tap already exists is
 * skipped, and the search starts at a random slot so two processes rarely meet.
 */
export class TapPool {
  private readonly subnetBase: string;
  private readonly ip: IpRunner;
  private readonly interfaceExists: (name: string) => boolean;
  private readonly tunDevice: string;
  private readonly used = new Set<number>();
  private readonly released = new WeakSet<object>();
  private next = Math.floor(Math.random() * SLOTS);
  private cap: Promise<{ ok: boolean; reason: string }> | undefined;
  private blackhole: Promise<void> | undefined;
  private tunOpened: Promise<void> | undefined;
  readonly dhcp: TapDhcp | undefined;

  constructor(opts: TapPoolOptions = {}) {
    this.subnetBase = opts.subnetBase ?? DEFAULT_SUBNET_BASE;
    parseSubnetBase(this.subnetBase); // refuse a bad subnet now, not at the first start
    this.ip = opts.ip ?? runIp;
    this.interfaceExists = opts.interfaceExists ?? ((name) => existsSync(`/sys/class/net/${name}`));
    this.tunDevice = opts.tunDevice ?? '/dev/net/tun';
    this.dhcp = opts.dhcp;
  }

  /** Whether this host can make taps: the tun device, CAP_NET_ADMIN and `ip` (checked once). */
  capability(): Promise<{ ok: boolean; reason: string }> {
    this.cap ??= (async () => {
      try {
        await access(this.tunDevice, constants.R_OK | constants.W_OK);
      } catch {
        return { ok: false, reason: `${this.tunDevice} is missing or not accessible` };
      }
      if (!(await hasNetAdmin())) return { ok: false, reason: 'Summon runs without CAP_NET_ADMIN (run it as root or grant the capability)' };
      try {
        await this.ip(['-V']);
      } catch (e) {
        return { ok: false, reason: `\`ip\` does not run (${(e as Error).message}): install iproute2` };
      }
      const dhcp = this.dhcp ? `; ${(await this.dhcp.capability()).reason}` : '';
      return { ok: true, reason: `tap devices, one /30 each from ${this.subnetBase}/16${dhcp}` };
    })();
    return this.cap;
  }

  /** Creates a tap with its host address and the guest's neighbour entry, up and ready for the
   *  VMM. With `owner`, the tap belongs to that user and group, so a VMM running as them (no
   *  CAP_NET_ADMIN) can attach to it through /dev/net/tun, and no other user can. */
  async acquire(owner?: { uid: number; gid: number }): Promise<TapNetwork> {
    if (owner && ![owner.uid, owner.gid].every((n) => Number.isInteger(n) && n > 0)) {
      throw new InvalidInputError(`a tap's owner must be an unprivileged uid and gid, got ${JSON.stringify(owner)}`);
    }
    const ownedBy = owner ? ` user ${owner.uid} group ${owner.gid}` : '';
    if (owner) await this.openTunToOwners();
    // Addresses of the /16 without a live tap go nowhere, never out of the default route.
    this.blackhole ??= this.ip(['route', 'add', 'blackhole', `${this.subnetBase}/16`]).catch(() => {});
    await this.blackhole;
    for (let tries = 0; tries < SLOTS; tries++) {
      const slot = this.next;
      this.next = (this.next + 1) % SLOTS;
      if (this.used.has(slot)) continue;
      const net = tapNetwork(slot, this.subnetBase);
      if (this.interfaceExists(net.tap)) continue;
      this.used.add(slot);
      try {
        await this.ip(['-batch', '-'], [
          `tuntap add dev ${net.tap} mode tap${ownedBy}`,
          `addr add ${net.hostAddress}/${net.prefix} dev ${net.tap}`,
          `link set ${net.tap} up`,
          `neigh replace ${net.guestAddress} lladdr ${net.mac} dev ${net.tap} nud permanent`,
        ].join('\n') + '\n');
        // Its DHCP server starts beside the VMM; a guest asks long after it is up.
        if (this.dhcp) void this.dhcp.serve(net).catch(() => undefined);
        return net;
      } catch (e) {
        this.used.delete(slot);
        await this.ip(['link', 'del', net.tap]).catch(() => {});
        throw new Error(`cannot create tap ${net.tap}: ${(e as Error).message} (needs root or CAP_NET_ADMIN)`);
      }
    }
    throw new Error(`no free tap slot in ${this.subnetBase}/16`);
  }

  /**
   * A VMM running as an app's user opens the tun device itself to attach to its tap, so the
   * device must be open to every user: 0666, as udev makes it on Debian. That is safe by the
   * kernel's rule: without CAP_NET_ADMIN a process may attach only to a tap its user or group
   * owns. A host without udev (a container) may have it 0600: it is opened up once, here.
   */
  private openTunToOwners(): Promise<void> {
    this.tunOpened ??= (async () => {
      const st = await stat(this.tunDevice);
      if ((st.mode & 0o666) === 0o666) return;
      try {
        await chmod(this.tunDevice, (st.mode & 0o7777) | 0o666);
      } catch (e) {
        throw new Error(`${this.tunDevice} is ${(st.mode & 0o777).toString(8)} and cannot be made 0666 (${(e as Error).message}), so a VMM running as an app's user cannot reach its tap: chmod 0666 ${this.tunDevice}, or use [run].network = "user"`);
      }
    })();
    const p = this.tunOpened;
    p.catch(() => (this.tunOpened = undefined));
    return p;
  }

  /** Deletes the tap (its address and neighbour entry go with it) and frees the slot. */
  async release(net: Pick<TapNetwork, 'tap'>): Promise<void> {
    // Twice for one acquire (an exit handler and a failed start both clean up) must not
    // delete a tap the slot has since been given to.
    if (this.released.has(net)) return;
    this.released.add(net);
    await this.dhcp?.stop(net.tap).catch(() => undefined);
    await this.ip(['link', 'del', net.tap]).catch(() => {});
    const m = /^smn([0-9a-f]{4})$/.exec(net.tap);
    if (m) this.used.delete(parseInt(m[1], 16));
  }

  /** What the tap's DHCP server saw of its guest (undefined: no DHCP on this pool). */
  dhcpSeen(tap: string): DhcpSeen | undefined {
    if (!this.dhcp) return undefined;
    return this.dhcp.seen(tap) ?? { served: false, packets: {} };
  }
}

/** Effective capabilities of this process include CAP_NET_ADMIN (bit 12). */
async function hasNetAdmin(): Promise<boolean> {
  try {
    const status = await readFile('/proc/self/status', 'utf8');
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
    return m ? (BigInt(`0x${m[1]}`) & (1n << 12n)) !== 0n : false;
  } catch {
    return false;
  }
}

export function runIp(args: string[], input?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(stderr.trim() || `ip ${args.join(' ')} exited ${code}`));
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}
