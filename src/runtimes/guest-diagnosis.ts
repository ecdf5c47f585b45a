// Why a VM guest never answered its health checks, from what Summon saw of it: its DHCP
// exchange (the tap's dnsmasq log), whether it answers ARP at its address and what a
// connection to its port got, the frames it sent at all, and its console's last lines.
// Pure (facts in, one message out), so every case is in the table test beside it; the
// facts are gathered by tap-observe.ts. The message ends with the two ways to fix a guest
// that configures its network another way than Summon's.
import type { DhcpSeen } from './tap-dhcp.js';

export interface GuestObservation {
  /** Frames the guest sent on its tap since it was made (null: not readable). */
  framesFromGuest: number | null;
  /** The guest answered an ARP request for its address (asked with the host's entry for it removed). */
  arp: 'answered' | 'unanswered' | 'unknown';
  /** A connection to the guest's port, made while asking. */
  port: 'refused' | 'accepted' | 'timeout' | 'unknown';
}

export interface UnreachableFacts {
  network: 'tap' | 'user';
  /** The guest's address and gateway as Summon assigned them (user: QEMU's 10.0.2.15 and 10.0.2.2). */
  address: string;
  gateway: string;
  prefix: number;
  port: number;
  mac?: string;
  /** user: the host port QEMU forwards to the guest port. */
  hostPort?: number;
  dhcp?: DhcpSeen;
  observed?: GuestObservation;
  /** The agent's last health check: refused means the guest's stack sent a reset. */
  lastCheck?: { refused: boolean; answered: boolean; detail: string } | null;
  consoleTail: string[];
}

const TAIL_LINES = 3;

export function diagnoseUnreachable(f: UnreachableFacts): string {
  const where = `${f.address}:${f.port}`;
  const tail = f.consoleTail.map((l) => l.trim()).filter(Boolean).slice(-TAIL_LINES);
  const console = tail.length ? `console's last lines: ${tail.join(' | ')}` : 'the console printed nothing';
  const { saw, fix } = f.network === 'user' ? userNetwork(f) : tapNetwork(f);
  return `Summon saw: ${saw}; ${console}. ${fix}`;

  function userNetwork(u: UnreachableFacts): { saw: string; fix: string } {
    const fwd = u.hostPort ? ` (forwarded from 127.0.0.1:${u.hostPort})` : '';
    return {
      saw: `nothing answered at ${where} on QEMU's user-mode network${fwd}${u.lastCheck ? ` (last check: ${u.lastCheck.detail})` : ''}`,
      fix: `To fix: the guest takes ${u.address}/${u.prefix} via ${u.gateway} (QEMU's own DHCP serves it, or SUMMON_ADDR on the kernel command line) and listens on port ${u.port} ([run].port)`,
    };
  }
}

function tapNetwork(f: UnreachableFacts): { saw: string; fix: string } {
  const where = `${f.address}:${f.port}`;
  const o = f.observed;
  const refused = o?.port === 'refused' || f.lastCheck?.refused === true;
  const twoWays = `To fix, either way: have the guest take its address by DHCP (served on its tap: ${f.address}/${f.prefix} via ${f.gateway}) ` +
    `or from its boot arguments ({ip} and {gateway} in [run].args, e.g. MirageOS's --ipv4={ip}/${f.prefix} --ipv4-gateway={gateway}; ` +
    `or SUMMON_ADDR and SUMMON_GATEWAY on the kernel command line); or set [run].network = "user" for a guest made for QEMU's user-mode network (10.0.2.15/24 via 10.0.2.2)`;
  if (refused) {
    return {
      saw: `the guest is on the network at ${f.address} (it answered ARP and refused the connection) but nothing listens on port ${f.port}`,
      fix: `To fix: make the app listen on port ${f.port}, or set [run].port to the port it listens on`,
    };
  }
  if (o?.port === 'accepted') {
    return {
      saw: `port ${f.port} accepts connections at ${f.address}, but the health check got no answer${f.lastCheck ? ` (last check: ${f.lastCheck.detail})` : ''}`,
      fix: 'To fix: make the app answer [health].path (or leave [health] out for a TCP check), within [health].timeout',
    };
  }
  if (o?.arp === 'answered') {
    return {
      saw: `the guest answers ARP at ${f.address}, but a connection to port ${f.port} got no answer (neither accepted nor refused: a firewall in the guest?)`,
      fix: `To fix: let the guest accept TCP connections on port ${f.port} from ${f.gateway}`,
    };
  }
  const noArp = o?.arp === 'unanswered' ? `no answer to ARP for ${f.address}` : `no answer at ${f.address}`;
  const d = f.dhcp;
  const mac = f.mac ? ` from ${f.mac}` : '';
  let saw: string;
  if (!d || (!d.served && !Object.keys(d.packets).length)) {
    const why = d?.reason ?? d?.error;
    saw = `no DHCP server ran for its tap${why ? ` (${why})` : ''} and ${noArp}`;
  } else if (d.packets.ack) {
    saw = `DHCP answered (DHCPACK of ${d.address ?? f.address}${f.mac ? ` to ${f.mac}` : ''}) but ${noArp}: the guest took the lease but did not configure it`;
  } else if (d.packets.offer) {
    saw = `the guest asked for an address (DHCPDISCOVER${mac}) and was offered ${d.address ?? f.address}, but never requested it (no DHCPREQUEST), and ${noArp}`;
  } else if (d.packets.discover || d.packets.request) {
    saw = `the guest asked for an address (DHCP${d.packets.discover ? 'DISCOVER' : 'REQUEST'}${mac}) but got none${d.packets.nak ? ' (DHCPNAK)' : ''}${d.error ? ` (${d.error})` : ''}, and ${noArp}`;
  } else {
    const silent = o?.framesFromGuest === 0 ? '; it sent no frame at all on its tap (is its NIC driver loaded and its link up?)' : '';
    saw = `no DHCP request from the guest${f.mac ? ` (${f.mac})` : ''} and ${noArp}: it configured no network, or an address of its own (QEMU's user-mode default is 10.0.2.15)${silent}`;
  }
  return { saw, fix: twoWays };
}
