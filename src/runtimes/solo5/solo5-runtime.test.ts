// Debian ships no solo5 tender, so these tests cover the capability and refusal paths for
// real, and the lifecycle (argv, tap setup and teardown, console, stop, onExit, recover)
// against a stand-in tender script with `ip` recorded instead of run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildTenderArgs, solo5EnvImage, Solo5Runtime } from './solo5-runtime.js';
import { tapNetwork } from '../tap-net.js';
import type { InstanceSpec, InstanceStatus } from '../runtime.js';
import { waitFor } from '../../testing/wait.js';

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'summon-solo5-'));
  t.after(() => rm(d, { recursive: true, force: true }));
  return d;
}

const baseSpec = (workDir: string, over: Partial<InstanceSpec> = {}): InstanceSpec => ({
  id: 'uk-1', app: 'mirage', version: 3, target: 'solo5-spt', artifactPath: '/blobs/app.spt', args: [],
  env: {}, guestPort: 8080, memoryBytes: 64 * 1024 * 1024, workDir, hostPort: 40_005, ...over,
});

test('the constructor validates target and subnet', () => {
  assert.throws(() => new Solo5Runtime({ target: 'solo5-xyz' as 'solo5-hvt', stateDir: '/tmp' }), /target must be/);
  assert.throws(() => new Solo5Runtime({ target: 'solo5-spt', stateDir: '' }), /stateDir is required/);
  assert.throws(() => new Solo5Runtime({ target: 'solo5-spt', stateDir: '/tmp', subnetBase: '10.300.0.0' }), /subnetBase/);
  assert.throws(() => new Solo5Runtime({ target: 'solo5-spt', stateDir: '/tmp', subnetBase: '10.1.2.0' }), /first address of a \/16/);
});

test('no tender: capability says how to install it and start() refuses', async (t) => {
  const dir = await tempDir(t);
  for (const target of ['solo5-hvt', 'solo5-spt'] as const) {
    const rt = new Solo5Runtime({ target, stateDir: dir, searchPath: join(dir, 'empty') });
    const cap = await rt.capability();
    assert.equal(cap.target, target);
    assert.equal(cap.available, false);
    assert.match(cap.reason, new RegExp(`${target} not found.*Debian has no solo5 package`));
    await assert.rejects(rt.start(baseSpec(dir, { target }), () => {}), (e: Error & { code?: string }) =>
      e.code === 'runtime_unavailable' && /not found/.test(e.message));
  }
});

test('solo5-hvt needs KVM: a tender without /dev/kvm is not enough', async (t) => {
  const dir = await tempDir(t);
  const bin = join(dir, 'bin');
  await mkdir(bin);
  await writeFile(join(bin, 'solo5-hvt'), '#!/bin/sh\n');
  await chmod(join(bin, 'solo5-hvt'), 0o755);
  const rt = new Solo5Runtime({ target: 'solo5-hvt', stateDir: dir, searchPath: bin, kvmDevice: join(dir, 'nokvm') });
  const cap = await rt.capability();
  assert.equal(cap.available, false);
  assert.match(cap.reason, /needs KVM .* use solo5-spt/);
});

test('each instance gets its own tap and /30; argv follows the solo5 tender conventions', () => {
  const a = tapNetwork(0);

  const spec = baseSpec('/w', { args: ['--port={port}'], env: { MAILGUN_KEY: 'k1', DEBUG: 'true' } });
  // Config vars are not in argv: they are the summon_env block device.
  assert.deepEqual(buildTenderArgs(spec, a, '/w/summon-env.img'), [
    '--mem=64', `--net:service=${a.tap}`, '--block:summon_env=/w/summon-env.img', '--', '/blobs/app.spt',
    '--ipv4=10.201.0.2/30', '--ipv4-gateway=10.201.0.1', '--port=8080',
  ]);
  assert.deepEqual(buildTenderArgs(baseSpec('/w'), a, '/w/summon-env.img').slice(0, 3), ['--mem=64', `--net:service=${a.tap}`, '--'], 'no vars, no device');
  const img = solo5EnvImage({ MAILGUN_KEY: 'k1', DEBUG: 'true' });
  assert.equal(img.length, 512);
  assert.equal(img.toString('utf8').replace(/\0+$/, ''), 'MAILGUN_KEY=k1\nDEBUG=true\n');
  assert.equal(solo5EnvImage({ BIG: 'x'.repeat(600) }).length, 1024, 'whole sectors');
  const own = buildTenderArgs(baseSpec('/w', { args: ['--ip={ip}', '--gw={gateway}'] }), a);
  assert.deepEqual(own.slice(4), ['--ip=10.201.0.2', '--gw=10.201.0.1']);
});

test('a config var that would split into a second boot argument, or is no env name, is refused before the tender runs', () => {
  const a = tapNetwork(0);
  assert.throws(() => buildTenderArgs(baseSpec('/w', { env: { GREETING: 'hi --ipv4=10.0.0.9/8' } }), a),
    /will not start this instance: config var GREETING holds a space/);
  assert.throws(() => buildTenderArgs(baseSpec('/w', { env: { 'ipv4=1': 'x' } }), a), /environment-variable names/);
});

test('lifecycle against a stand-in tender: tap up, console, stop, onExit, tap down, recover', async (t) => {
  const dir = await tempDir(t);
  const bin = join(dir, 'bin');
  await mkdir(bin);
  const tender = join(bin, 'solo5-spt');
  await writeFile(tender, '#!/bin/sh\necho "Solo5: stand-in tender $*"\ntrap "exit 0" TERM\nwhile :; do sleep 0.05; done\n');
  await chmod(tender, 0o755);
  const ipCalls: string[] = [];
  const ip = async (args: string[], input?: string): Promise<void> => {
    ipCalls.push(...(input ? input.trim().split('\n') : [args.join(' ')]));
  };
  const stateDir = join(dir, 'state');
  const rt = new Solo5Runtime({ target: 'solo5-spt', stateDir, searchPath: bin, ip });
  assert.equal((await rt.capability()).available, true);
  const exits = new Map<string, InstanceStatus>();
  rt.onExit((id, st) => exits.set(id, st));

  const lines: string[] = [];
  const spec = baseSpec(dir, { env: { API_SECRET: 'secret-value-42' } });
  const h = await rt.start(spec, (l, s) => lines.push(`${s}:${l}`));
  // The secret is in a 0600 block device image, not in the tender's argv.
  const cmdline = (await readFile(`/proc/${h.pid}/cmdline`, 'utf8')).split('\0');
  assert.ok(cmdline.includes(`--block:summon_env=${join(dir, 'summon-env.img')}`), cmdline.join(' '));
  assert.ok(!cmdline.join(' ').includes('secret-value-42'), 'no config value in argv');
  assert.equal(((await stat(join(dir, 'summon-env.img'))).mode & 0o777).toString(8), '600');
  assert.match(await readFile(join(dir, 'summon-env.img'), 'utf8'), /^API_SECRET=secret-value-42\n\0+$/);
  const tap = /^tuntap add dev (\S+) mode tap$/.exec(ipCalls.find((c) => c.startsWith('tuntap add')) ?? '')?.[1];
  const net = tapNetwork(parseInt(tap!.slice(3), 16));
  assert.equal(h.address, net.guestAddress);
  assert.equal(h.port, 8080);
  assert.ok(ipCalls.includes(`tuntap add dev ${net.tap} mode tap`));
  assert.ok(ipCalls.includes(`addr add ${net.hostAddress}/30 dev ${net.tap}`));
  assert.ok(ipCalls.includes(`neigh replace ${net.guestAddress} lladdr ${net.mac} dev ${net.tap} nud permanent`));
  await waitFor(() => lines.find((l) => l.startsWith('console:Solo5: stand-in tender --mem=64')), { timeoutMs: 5000, what: 'console' });
  const st = await waitFor(() => rt.stats(spec.id), { timeoutMs: 5000, what: 'stats' });
  assert.ok(st.memoryBytes > 0);
  await rt.stop(spec.id, { graceMs: 5000 });
  assert.equal(exits.get(spec.id)?.running, false);
  assert.equal(ipCalls.at(-1), `link del ${net.tap}`);

  // Regression: an instance that died on its own is restarted under the same id, no stop() first.
  const crashy = baseSpec(dir, { id: 'uk-3', hostPort: 40_010 });
  const hc = await rt.start(crashy, () => {});
  process.kill(hc.pid!, 'SIGKILL');
  await waitFor(() => exits.get('uk-3'), { timeoutMs: 5000, what: 'onExit after SIGKILL' });
  const hc2 = await rt.start(crashy, () => {});
  assert.ok(hc2.pid && hc2.pid !== hc.pid);
  assert.equal(rt.inspect('uk-3')?.running, true);
  await rt.stop('uk-3', { graceMs: 1000 });

  // A leftover from a previous run is killed by a successor on the same stateDir.
  const left = baseSpec(dir, { id: 'uk-2', hostPort: 40_006 });
  const hl = await rt.start(left, () => {});
  const successor = new Solo5Runtime({ target: 'solo5-spt', stateDir, searchPath: bin, ip });
  assert.deepEqual(await successor.recover(stateDir), ['uk-2']);
  await waitFor(() => exits.get('uk-2'), { timeoutMs: 5000, what: 'the leftover to exit' });
  assert.deepEqual(await successor.recover(stateDir), []);
  assert.ok(hl.pid);
});

test('confined: the tender runs as the app\'s user with no capabilities, in its cgroup unit, the unikernel handed to it open', { skip: process.getuid?.() !== 0 ? 'confinement needs root' : false }, async (t) => {
  const dir = await tempDir(t);
  await chmod(dir, 0o755); // the stand-in tender lives here and the app's user executes it
  const bin = join(dir, 'bin');
  await mkdir(bin);
  const tender = join(bin, 'solo5-spt');
  await writeFile(tender, [
    '#!/bin/sh',
    'echo "ids: $(id -u) $(id -g) [$(id -G)]"',
    'grep -E "^(CapEff|CapBnd|NoNewPrivs):" /proc/self/status | tr -s "\\t" " "',
    'echo "argv: $*"',
    'echo "unikernel: $(cat /dev/fd/3)"',
    'grep -c "/uk-c1$" /proc/self/cgroup | sed "s/^/cgroups: /"',
    'trap "exit 0" TERM', 'while :; do sleep 0.05; done', '',
  ].join('\n'));
  await chmod(tender, 0o755);
  // The unikernel where the blob store keeps it: 0555, below a directory only root may walk.
  const data = join(dir, 'data');
  await mkdir(join(data, 'blobs'), { recursive: true, mode: 0o700 });
  await chmod(data, 0o700);
  const artifact = join(data, 'blobs', 'app.spt');
  await writeFile(artifact, 'UNIKERNEL-BYTES', { mode: 0o555 });
  const { Confiner } = await import('../../isolation/confine.js');
  const confiner = await Confiner.create(data);
  if ('unavailable' in confiner) throw new Error(confiner.unavailable);
  t.after(() => confiner.reap().then(() => undefined));
  const ipCalls: string[] = [];
  const ip = async (args: string[], input?: string): Promise<void> => {
    ipCalls.push(...(input ? input.trim().split('\n') : [args.join(' ')]));
  };
  const rt = new Solo5Runtime({ target: 'solo5-spt', stateDir: join(data, 'agent'), searchPath: bin, ip, confiner });
  const exits = new Map<string, InstanceStatus>();
  rt.onExit((id, st) => exits.set(id, st));
  const workDir = join(data, 'instances', 'uk-c1');
  await mkdir(workDir, { recursive: true });
  const lines: string[] = [];
  const spec = baseSpec(workDir, { id: 'uk-c1', artifactPath: artifact });
  const h = await rt.start(spec, (l) => lines.push(l));
  const uid = await confiner.uids.uidFor('mirage');
  await waitFor(() => lines.some((l) => l.startsWith('cgroups:')), { timeoutMs: 5000, what: 'the stand-in tender\'s report' });
  assert.ok(lines.includes(`ids: ${uid} ${uid} [${uid}]`), lines.join('\n'));
  assert.ok(lines.includes('CapEff: 0000000000000000') && lines.includes('CapBnd: 0000000000000000') && lines.includes('NoNewPrivs: 1'), lines.join('\n'));
  assert.ok(lines.includes('unikernel: UNIKERNEL-BYTES'), lines.join('\n'));
  assert.ok(lines.some((l) => /^argv: .* -- \/dev\/fd\/3 /.test(l)), lines.join('\n'));
  assert.ok(lines.includes(`cgroups: ${confiner.cgroups.describe().length}`), lines.join('\n'));
  assert.ok(ipCalls.some((c) => new RegExp(`^tuntap add dev smn[0-9a-f]{4} mode tap user ${uid} group ${uid}$`).test(c)), ipCalls.join('\n'));
  const dirs = confiner.cgroups.describe().map((d) => join(d.root, 'uk-c1'));
  await rt.stop(spec.id, { graceMs: 5000 });
  assert.equal(exits.get(spec.id)?.running, false);
  assert.ok(h.pid);
  for (const d of dirs) assert.equal(existsSync(d), false, `${d} removed`);
});
