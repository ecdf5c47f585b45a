import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dnsmasqArgs, parseDhcpLine, TapDhcp } from './tap-dhcp.js';
import { tapNetwork, type TapNetwork } from './tap-net.js';
import { neighbourAnswered, observeGuest } from './tap-observe.js';
import { waitFor } from '../testing/wait.js';
import { pidAlive } from '../testing/pids.js';

const sh = (cmd: string, args: string[]): Promise<string> =>
  new Promise((resolve, reject) => execFile(cmd, args, { timeout: 30_000 }, (e, out, err) => (e ? reject(new Error(`${cmd} ${args.join(' ')}: ${err || e.message}`)) : resolve(out))));

test('dnsmasq argv: DHCP only, one static lease, scoped to the tap', () => {
  const net = tapNetwork(1);
  assert.deepEqual(dnsmasqArgs(net, '/data/dhcp'), [
    '--keep-in-foreground', '--conf-file=/dev/null', '--port=0', '--bind-interfaces', '--interface=smn0001',
    '--dhcp-range=10.201.0.6,static,255.255.255.252', '--dhcp-host=02:53:4d:00:00:01,10.201.0.6,infinite',
    '--dhcp-option=option:router,10.201.0.5', '--dhcp-authoritative',
    '--dhcp-leasefile=/data/dhcp/smn0001.leases', '--pid-file=/data/dhcp/smn0001.pid', '--log-facility=-',
  ]);
});

test('dnsmasq log lines: the DHCP packets, their tap, address and MAC', () => {
  assert.deepEqual(parseDhcpLine('dnsmasq-dhcp[8296]: DHCPDISCOVER(smn0005) 02:53:4d:00:00:05 '), { packet: 'discover', iface: 'smn0005', mac: '02:53:4d:00:00:05' });
  assert.deepEqual(parseDhcpLine('dnsmasq-dhcp[8296]: DHCPACK(smn0005) 10.201.0.22 02:53:4D:00:00:05 '), { packet: 'ack', iface: 'smn0005', address: '10.201.0.22', mac: '02:53:4d:00:00:05' });
  assert.deepEqual(parseDhcpLine('dnsmasq-dhcp[1]: DHCPOFFER(smn0005) 10.201.0.22 02:53:4d:00:00:05 '), { packet: 'offer', iface: 'smn0005', address: '10.201.0.22', mac: '02:53:4d:00:00:05' });
  assert.equal(parseDhcpLine('dnsmasq-dhcp[1]: DHCP, sockets bound exclusively to interface smn0005'), undefined);
  assert.equal(parseDhcpLine('dnsmasq[1]: started, version 2.90 DNS disabled'), undefined);
  assert.equal(neighbourAnswered('10.201.0.6 lladdr 02:53:4d:00:00:01 REACHABLE \n'), 'answered');
  assert.equal(neighbourAnswered('10.201.0.6 lladdr 02:53:4d:00:00:01 STALE\n'), 'answered');
  assert.equal(neighbourAnswered('10.201.0.6 INCOMPLETE\n'), 'unanswered');
  assert.equal(neighbourAnswered('10.201.0.6 FAILED\n'), 'unanswered');
  assert.equal(neighbourAnswered(''), 'unanswered');
});

test('without dnsmasq the tap is not served, and seen() says why', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'summon-dhcp-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const d = new TapDhcp({ dir, binary: '/nonexistent/dnsmasq' });
  await d.serve(tapNetwork(3));
  assert.deepEqual(d.seen('smn0003'), { served: false, packets: {}, reason: 'no DHCP for DHCP guests: /nonexistent/dnsmasq not found (apt-get install dnsmasq-base)' });
  assert.equal(d.pid('smn0003'), null);
  await d.stop('smn0003');
  assert.equal(d.seen('smn0003'), undefined);
});

const root = process.getuid?.() === 0;
const dnsmasq = existsSync('/usr/sbin/dnsmasq');
const busybox = existsSync('/bin/busybox') || existsSync('/usr/bin/busybox');
const skip = !root ? 'needs root (network namespaces, port 67)' : !dnsmasq ? 'dnsmasq not installed (apt-get install dnsmasq-base)' : !busybox ? 'busybox not installed (its udhcpc is the client)' : false;

/** A "guest": the far end of a veth pair in a namespace of its own, with the slot's MAC. */
async function fakeGuest(t: { after(fn: () => Promise<void>): void }, n: number): Promise<{ net: TapNetwork; ns: string; dev: string }> {
  const tag = `${process.pid % 10000}${n}`;
  const slot = (process.pid * 7 + n) % 16384;
  // A /16 of its own, so nothing here meets the taps of a Summon running beside the test.
  const net = { ...tapNetwork(slot, '10.203.0.0'), tap: `sdh${tag}` };
  const ns = `summon-dhcp-${tag}`;
  const dev = 'eth0';
  await sh('ip', ['netns', 'add', ns]);
  t.after(async () => {
    await sh('ip', ['link', 'del', net.tap]).catch(() => undefined);
    await sh('ip', ['netns', 'del', ns]).catch(() => undefined);
  });
  await sh('ip', ['link', 'add', net.tap, 'type', 'veth', 'peer', 'name', dev, 'netns', ns]);
  await sh('ip', ['addr', 'add', `${net.hostAddress}/30`, 'dev', net.tap]);
  await sh('ip', ['link', 'set', net.tap, 'up']);
  await sh('ip', ['-n', ns, 'link', 'set', dev, 'address', net.mac]);
  await sh('ip', ['-n', ns, 'link', 'set', dev, 'up']);
  await sh('ip', ['neigh', 'replace', net.guestAddress, 'lladdr', net.mac, 'dev', net.tap, 'nud', 'permanent']);
  return { net, ns, dev };
}

/** busybox udhcpc in the guest's namespace: one lease, printed by its script. */
async function udhcpc(ns: string, dev: string, script: string): Promise<Record<string, string>> {
  const out = await sh('ip', ['netns', 'exec', ns, 'busybox', 'udhcpc', '-i', dev, '-n', '-q', '-f', '-t', '5', '-T', '1', '-s', script]);
  const bound = out.split('\n').find((l) => l.startsWith('bound '));
  assert.ok(bound, `udhcpc got a lease: ${out}`);
  return Object.fromEntries(bound.slice(6).split(' ').map((kv) => kv.split('=') as [string, string]));
}

test('a real dnsmasq per tap: a DHCP client gets its /30 and gateway, the server is restarted when it dies, stopped by its pid, and found after a crash', { skip }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'summon-dhcp-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const script = join(dir, 'udhcpc.sh');
  await writeFile(script, '#!/bin/sh\n[ "$1" = bound ] && echo "bound ip=$ip subnet=$subnet router=$router dns=$dns lease=$lease"\nexit 0\n');
  await chmod(script, 0o755);
  const warnings: string[] = [];
  const d = new TapDhcp({ dir, restartDelayMs: 50, onWarn: (m) => warnings.push(m) });
  t.after(() => d.close());
  const a = await fakeGuest(t, 1);
  const b = await fakeGuest(t, 2);
  await Promise.all([d.serve(a.net), d.serve(b.net)]);
  assert.equal(d.seen(a.net.tap)?.served, true, JSON.stringify(d.seen(a.net.tap)));

  // Two servers at once, one per tap, each answering its own guest only.
  const [la, lb] = await Promise.all([udhcpc(a.ns, a.dev, script), udhcpc(b.ns, b.dev, script)]);
  assert.deepEqual(la, { ip: a.net.guestAddress, subnet: '255.255.255.252', router: a.net.hostAddress, dns: '', lease: '4294967295' });
  assert.equal(lb.ip, b.net.guestAddress);
  const seen = d.seen(a.net.tap)!;
  assert.ok(seen.packets.discover && seen.packets.offer && seen.packets.request && seen.packets.ack, JSON.stringify(seen));
  assert.equal(seen.address, a.net.guestAddress);

  // The observation the diagnosis reads: this guest has no address yet (udhcpc's script
  // set none), so ARP goes unanswered; with its address, the closed port refuses.
  const none = await observeGuest(a.net, 8080, { timeoutMs: 500 });
  assert.deepEqual([none.arp, none.port], ['unanswered', 'timeout']);
  assert.ok(none.framesFromGuest! >= 2 && none.framesFromGuest! <= (await readFrames(a.net.tap)), 'the DHCP packets are frames from the guest');
  assert.match(await sh('ip', ['neigh', 'show', a.net.guestAddress, 'dev', a.net.tap]), /PERMANENT/, 'the permanent entry is put back');
  await sh('ip', ['-n', a.ns, 'addr', 'add', `${la.ip}/30`, 'dev', a.dev]);
  const up = await observeGuest(a.net, 8080, { timeoutMs: 2000 });
  assert.deepEqual([up.arp, up.port], ['answered', 'refused']);

  // dnsmasq killed: restarted by its supervisor, and it serves again.
  const first = d.pid(a.net.tap)!;
  assert.ok(first > 0);
  assert.equal(Number((await readFile(join(dir, `${a.net.tap}.pid`), 'utf8')).trim()), first, 'its pid file in DATA');
  process.kill(first, 'SIGKILL');
  await waitFor(() => { const p = d.pid(a.net.tap); return p !== null && p !== first && d.seen(a.net.tap)?.served; }, { timeoutMs: 10_000, what: 'dnsmasq restarted' });
  assert.match(warnings.join('\n'), new RegExp(`DHCP server for ${a.net.tap} exited .*; restarting in 50 ms`));
  assert.equal((await udhcpc(a.ns, a.dev, script)).ip, a.net.guestAddress);

  // stop(): that server's pid goes, and its files; the other tap's server keeps running.
  const second = d.pid(a.net.tap)!;
  await d.stop(a.net.tap);
  assert.equal(pidAlive(second), false);
  assert.equal(existsSync(join(dir, `${a.net.tap}.pid`)), false);
  assert.ok(pidAlive(d.pid(b.net.tap)!));

  // A Summon killed with SIGKILL leaves its servers: the next start on the same DATA stops
  // them by their pid files (and nothing else).
  const leftover = d.pid(b.net.tap)!;
  const next = new TapDhcp({ dir });
  assert.equal(await next.recover(), 1);
  await waitFor(() => !pidAlive(leftover), { timeoutMs: 5000, what: 'the leftover dnsmasq stopped' });
  assert.equal(existsSync(join(dir, `${b.net.tap}.pid`)), false);
  await d.close();
  assert.equal(await next.recover(), 0);
});

async function readFrames(tap: string): Promise<number> {
  return Number((await readFile(`/sys/class/net/${tap}/statistics/rx_packets`, 'utf8')).trim());
}

