import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TAP_NAME_RE, TapPool, tapNetwork } from './tap-net.js';

const sh = (cmd: string, args: string[]): Promise<string> =>
  new Promise((resolve, reject) => execFile(cmd, args, (e, out, err) => (e ? reject(new Error(err || e.message)) : resolve(out))));

test('a slot maps to its own tap, /30, and MAC', () => {
  const a = tapNetwork(0);
  const b = tapNetwork(1);
  assert.deepEqual([a.tap, a.hostAddress, a.guestAddress, a.prefix, a.mac], ['smn0000', '10.201.0.1', '10.201.0.2', 30, '02:53:4d:00:00:00']);
  assert.deepEqual([b.tap, b.hostAddress, b.guestAddress], ['smn0001', '10.201.0.5', '10.201.0.6']);
  const c = tapNetwork(70, '10.77.0.0');
  assert.deepEqual([c.tap, c.hostAddress, c.guestAddress, c.mac], ['smn0046', '10.77.1.25', '10.77.1.26', '02:53:4d:00:00:46']);
  const last = tapNetwork(16383);
  assert.deepEqual([last.tap, last.guestAddress], ['smn3fff', '10.201.255.254']);
  for (const n of [a, b, c, last]) assert.ok(TAP_NAME_RE.test(n.tap) && n.tap.length <= 15);
  assert.throws(() => tapNetwork(16384), /slot must be 0..16383/);
  assert.throws(() => tapNetwork(0, '10.201.3.0'), /first address of a \/16/);
  assert.throws(() => new TapPool({ subnetBase: 'ten.0.0.0' }), /subnetBase/);
});

test('the pool skips slots in use here or taken by another process, and frees on release', async (t) => {
  const calls: string[] = [];
  const taken = new Set<string>();
  // Stands in for /dev/net/tun, 0600 as on a host without udev.
  const dir = await mkdtemp(join(tmpdir(), 'summon-tun-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const tun = join(dir, 'tun');
  await writeFile(tun, '', { mode: 0o600 });
  const pool = new TapPool({
    ip: async (args, input) => {
      calls.push(input ?? args.join(' '));
    },
    interfaceExists: (name) => taken.has(name),
    tunDevice: tun,
  });
  const first = await pool.acquire();
  assert.equal(calls.shift(), 'route add blackhole 10.201.0.0/16');
  assert.match(calls[0], new RegExp(`^tuntap add dev ${first.tap} mode tap\naddr add ${first.hostAddress}/30 dev ${first.tap}\n` +
    `link set ${first.tap} up\nneigh replace ${first.guestAddress} lladdr ${first.mac} dev ${first.tap} nud permanent\n$`));
  // Another process holds the next slot's tap: it is skipped.
  taken.add(tapNetwork((first.slot + 1) % 16384).tap);
  const second = await pool.acquire();
  assert.equal(second.slot, (first.slot + 2) % 16384);
  await pool.release(first);
  assert.equal(calls.at(-1), `link del ${first.tap}`);

  assert.equal((await stat(tun)).mode & 0o777, 0o600, 'a tap without an owner leaves the tun device alone');
  // A tap for a VMM that runs as the app's user belongs to that user and group, and the tun
  // device is opened to every user (0666, udev's default), as that VMM opens it itself.
  const owned = await pool.acquire({ uid: 40123, gid: 40123 });
  assert.match(calls.at(-1)!, new RegExp(`^tuntap add dev ${owned.tap} mode tap user 40123 group 40123\n`));
  assert.equal((await stat(tun)).mode & 0o777, 0o666);
  await assert.rejects(pool.acquire({ uid: 0, gid: 0 }), /a tap's owner must be an unprivileged uid and gid/);

  const failing = new TapPool({ ip: async (args) => { if (args[0] === '-batch') throw new Error('Operation not permitted'); }, interfaceExists: () => false });
  await assert.rejects(failing.acquire(), /cannot create tap smn[0-9a-f]{4}: Operation not permitted \(needs root or CAP_NET_ADMIN\)/);
});

test('on this host: a real tap with the guest\'s neighbour entry, then gone', async (t) => {
  const pool = new TapPool();
  const cap = await pool.capability();
  if (!cap.ok) {
    t.skip(`no tap devices here: ${cap.reason}`);
    return;
  }
  const net = await pool.acquire();
  try {
    assert.ok(existsSync(`/sys/class/net/${net.tap}`));
    assert.match(await sh('ip', ['-4', 'addr', 'show', 'dev', net.tap]), new RegExp(`inet ${net.hostAddress.replaceAll('.', '\\.')}/30`));
    assert.match(await sh('ip', ['neigh', 'show', 'dev', net.tap]), new RegExp(`${net.guestAddress.replaceAll('.', '\\.')} lladdr ${net.mac} PERMANENT`));
    // Beside the live /30s, the rest of the /16 is a blackhole, never the default route.
    assert.match(await sh('ip', ['route', 'show', 'type', 'blackhole']), /^blackhole 10\.201\.0\.0\/16/m);
  } finally {
    await pool.release(net);
  }
  assert.equal(existsSync(`/sys/class/net/${net.tap}`), false);
  // Owned by a user, the kernel records that user and group on the tap.
  const owned = await pool.acquire({ uid: 40123, gid: 40124 });
  try {
    const [owner, group] = await Promise.all(['owner', 'group'].map((f) => readFile(`/sys/class/net/${owned.tap}/${f}`, 'utf8')));
    assert.deepEqual([owner!.trim(), group!.trim()], ['40123', '40124']);
  } finally {
    await pool.release(owned);
  }
});
