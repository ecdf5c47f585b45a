// VM guests that configure themselves, end to end: Summon as a real process, vm-hello pushed
// with real git and booted under QEMU on its own tap, with the tap's real dnsmasq.
//  - a guest that takes its address by DHCP (busybox udhcpc) becomes healthy and serves
//    through the router with no change to its address handling;
//  - a guest that takes it from MirageOS-style boot arguments (examples/mirage-qemu's
//    [run].args) does the same;
//  - a guest that configures nothing is refused, and the push output and `summon ps` say
//    what Summon saw (no DHCP request) and the two ways to fix it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'smol-toml';
import { cli, cliJson, editFile, EXAMPLES, exampleRepo, push, startSummonProcess, tempDir, viaRouter, vmCache, type SummonProcess } from './harness.js';
import { waitFor } from '../../src/testing/wait.js';
import { hasQemu } from '../../src/runtimes/qemu/vm-hello-fixture.js';
import { TapPool } from '../../src/runtimes/tap-net.js';

interface Inst { id: string; state: string; version: number; address: string; port: number; reason: string | null }

const tapsHere = (await new TapPool().capability()).ok;
const skip = !(await hasQemu()) ? 'qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)'
  : !tapsHere ? 'this host cannot make tap devices (root and /dev/net/tun)' : false;

test('VM guests that configure themselves on a tap', { skip }, async (t) => {
  const root = await tempDir('vm-dhcp');
  const s: SummonProcess = await startSummonProcess(join(root, 'data'));
  t.after(async () => {
    await s.stop();
    await rm(root, { recursive: true, force: true });
  });
  const cache = await vmCache();
  const hosts = (await cliJson(s, 'hosts', '--json')) as { runtimes: { target: string; reason: string }[] }[];
  assert.match(hosts[0].runtimes.find((r) => r.target === 'qemu')!.reason, /tap devices, one \/30 each from 10\.201\.0\.0\/16; DHCP served by dnsmasq \d/);

  /** vm-hello with VM_HELLO_NET=mode on its kernel command line (and more summon.toml). */
  const deploy = async (app: string, mode: string, extra: (toml: string) => string = (x) => x) => {
    const repo = await exampleRepo('vm-hello', (d) => editFile(d, 'summon.toml', (x) => extra(x.replace('cmdline = "quiet"', `cmdline = "quiet VM_HELLO_NET=${mode}"`))));
    assert.equal((await cli(s, 'apps:create', app)).code, 0);
    assert.equal((await cli(s, 'config:set', '-a', app, `SUMMON_VM_CACHE=${cache}`)).code, 0);
    return push(s, repo, app);
  };
  const logsOf = async (app: string) => (await cli(s, 'logs', '-a', app)).stdout;

  await t.test('a DHCP guest on its tap gets its /30 and gateway from dnsmasq and serves through the router', async () => {
    const r = await deploy('vmdhcp', 'dhcp');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Released v1/);
    const res = await viaRouter(s, 'vmdhcp');
    assert.equal(res.status, 200);
    assert.match(res.body, /hello from vm-hello release v1 instance vmdhcp-/);
    const [inst] = (await cliJson(s, 'ps', '-a', 'vmdhcp', '--json')) as Inst[];
    assert.equal(inst.state, 'healthy');
    // The lease is the instance's own address, and its gateway the host's end of the tap.
    const [a, b, c, d] = inst.address.split('.').map(Number);
    assert.equal(`${a}.${b}`, '10.201');
    const logs = await waitFor(async () => {
      const l = await logsOf('vmdhcp');
      return /vm-hello: dhcp: bound/.test(l) ? l : undefined;
    }, { timeoutMs: 10_000, what: 'the guest to log its lease' });
    assert.match(logs, new RegExp(`vm-hello: dhcp: bound ${inst.address.replaceAll('.', '\\.')}/30 via ${a}\\.${b}\\.${c}\\.${d - 1} \\(lease 4294967295 s\\)`));
  });

  await t.test('a guest that takes MirageOS-style boot arguments (examples/mirage-qemu\'s [run].args) serves too', async () => {
    const mirage = parse(await readFile(join(EXAMPLES, 'mirage-qemu', 'summon.toml'), 'utf8')) as { run: { args: string[] } };
    assert.deepEqual(mirage.run.args, ['--ipv4={ip}/30', '--ipv4-gateway={gateway}']);
    const r = await deploy('vmargs', 'args', (x) => x.replace('[run]\n', `[run]\nargs = ${JSON.stringify(mirage.run.args)}\n`));
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await viaRouter(s, 'vmargs')).status, 200);
    const [inst] = (await cliJson(s, 'ps', '-a', 'vmargs', '--json')) as Inst[];
    const gw = inst.address.replace(/\d+$/, (x) => String(Number(x) - 1));
    assert.match(await logsOf('vmargs'), new RegExp(`vm-hello: args: --ipv4=${inst.address.replaceAll('.', '\\.')}/30 --ipv4-gateway=${gw.replaceAll('.', '\\.')}`));
  });

  await t.test('a guest that configures no network: the push and ps say "no DHCP request" and the two fixes', async () => {
    // A short grace, so the test does not wait the default 60 s per attempt.
    const pushing = deploy('vmnone', 'none', (x) => x.replace('[health]\n', '[health]\ngrace = "8s"\n'));
    // While the push still tries (three attempts), `summon ps` shows the crashed instance's reason.
    let pushed: { stderr: string } | undefined;
    void pushing.then((r) => (pushed = r));
    const table = await waitFor(async () => {
      if (pushed) throw new Error(`the push ended before ps showed the diagnosis: ${pushed.stderr}`);
      const r = await cli(s, 'ps', '-a', 'vmnone');
      return /Summon saw:/.test(r.stdout) ? r.stdout : undefined;
    }, { timeoutMs: 90_000, intervalMs: 20, what: 'ps to show the diagnosis' });
    assert.match(table, /(crashed|starting) .*not healthy within 8s of starting\. Summon saw: no DHCP request from the guest/);
    const r = await pushing;
    assert.notEqual(r.code, 0, 'the push is refused');
    const said = r.stderr;
    assert.match(said, /not healthy within 8s of starting\. Summon saw: no DHCP request from the guest \(02:53:4d:[0-9a-f:]+\) and no answer to ARP for 10\.201\.\d+\.\d+/);
    // The guest's own lines of that attempt (how far it got depends on the machine's speed).
    assert.match(said, /console's last lines: [^;]*vm-hello: /);
    assert.match(said, /To fix, either way: have the guest take its address by DHCP \(served on its tap: 10\.201\.\d+\.\d+\/30 via 10\.201\.\d+\.\d+\) or from its boot arguments \(\{ip\} and \{gateway\} in \[run\]\.args/);
    assert.match(said, /or set \[run\]\.network = "user"/);
    assert.doesNotMatch(said, /not connected within 20 ms/, 'the diagnosis replaces the last check\'s words');
    const rels = (await cliJson(s, 'releases', '-a', 'vmnone', '--json')) as { status: string; reason: string }[];
    assert.equal(rels[0].status, 'failed');
    assert.match(rels[0].reason, /no DHCP request from the guest/);
    t.diagnostic(`release reason: ${rels[0].reason}`);
    // `summon ps` shows the same reason while the instance is crashed (if one is left).
    const events = (await cliJson(s, 'events', '-a', 'vmnone', '--json', '-n', '200')) as { type: string; message: string; data: { how?: string } }[];
    const crash = events.find((e) => e.type === 'instance.crashed');
    assert.ok(crash, 'a crash event');
    assert.match(crash.data.how ?? '', /Summon saw: no DHCP request from the guest/);
  });
});
