// Looks at a guest on its tap that never answered, for guest-diagnosis.ts: whether it answers
// ARP at its address and what a connection to its port gets. The tap holds a permanent
// neighbour entry for the guest (so the first SYN never waits on ARP, see tap-net.ts), which
// hides whether the guest answers ARP; it is removed for the question, one connection makes
// the kernel ask, and the entry's state says whether the guest replied (REACHABLE, STALE…)
// or not (INCOMPLETE, FAILED). The entry is put back afterwards.
import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { readFile } from 'node:fs/promises';
import { diagnoseUnreachable, type GuestObservation } from './guest-diagnosis.js';
import type { TapNetwork, TapPool } from './tap-net.js';
import type { UnhealthyStart } from './runtime.js';

export interface ObserveOptions {
  /** How long the connection (and so the ARP request) may take (default 1 s). */
  timeoutMs?: number;
  /** Runs `ip` and returns its stdout (tests substitute). */
  ip?: (args: string[]) => Promise<string>;
}

export async function observeGuest(net: Pick<TapNetwork, 'tap' | 'guestAddress' | 'mac'>, port: number, opts: ObserveOptions = {}): Promise<GuestObservation> {
  const ip = opts.ip ?? ipOut;
  const timeoutMs = opts.timeoutMs ?? 1000;
  const framesFromGuest = await readFile(`/sys/class/net/${net.tap}/statistics/rx_packets`, 'utf8').then((t) => Number(t.trim()), () => null);
  const removed = await ip(['neigh', 'del', net.guestAddress, 'dev', net.tap]).then(() => true, () => false);
  try {
    const portSeen = await tryConnect(net.guestAddress, port, timeoutMs);
    let arp: GuestObservation['arp'] = 'unknown';
    if (portSeen === 'refused' || portSeen === 'accepted') arp = 'answered';
    else if (removed) {
      const shown = await ip(['neigh', 'show', net.guestAddress, 'dev', net.tap]).catch(() => '');
      arp = neighbourAnswered(shown);
    }
    return { framesFromGuest, arp, port: portSeen };
  } finally {
    if (removed) await ip(['neigh', 'replace', net.guestAddress, 'lladdr', net.mac, 'dev', net.tap, 'nud', 'permanent']).catch(() => '');
  }
}

/** A VM runtime's diagnose() for a guest on its tap: what Summon sees of it, as one message. */
export async function explainTapGuest(taps: TapPool, net: TapNetwork, port: number, seen: UnhealthyStart, opts: ObserveOptions = {}): Promise<string> {
  const observed = await observeGuest(net, port, opts);
  const dhcp = taps.dhcpSeen(net.tap);
  return diagnoseUnreachable({
    network: 'tap', address: net.guestAddress, gateway: net.hostAddress, prefix: net.prefix, port, mac: net.mac,
    ...(dhcp ? { dhcp } : {}), observed, lastCheck: seen.lastCheck, consoleTail: seen.consoleTail,
  });
}

/** `ip neigh show ADDR dev TAP` → whether the guest replied to the kernel's ARP request. */
export function neighbourAnswered(shown: string): GuestObservation['arp'] {
  if (/\b(REACHABLE|STALE|DELAY|PROBE)\b/.test(shown)) return 'answered';
  if (/\b(INCOMPLETE|FAILED)\b/.test(shown)) return 'unanswered';
  return shown.trim() ? 'unknown' : 'unanswered';
}

function tryConnect(host: string, port: number, timeoutMs: number): Promise<GuestObservation['port']> {
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    const done = (v: GuestObservation['port']) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done('timeout'), timeoutMs);
    sock.once('connect', () => done('accepted'));
    sock.once('error', (e: NodeJS.ErrnoException) => done(e.code === 'ECONNREFUSED' ? 'refused' : e.code === 'EHOSTUNREACH' ? 'timeout' : 'unknown'));
  });
}

function ipOut(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ip', args, { timeout: 5000 }, (err, stdout, stderr) => (err ? reject(new Error(stderr.trim() || err.message)) : resolve(stdout)));
  });
}
