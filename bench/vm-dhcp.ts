// What taking the address by DHCP costs a VM guest: vm-hello booted through the agent on
// its own tap, alternately with VM_HELLO_NET=dhcp (busybox udhcpc against the tap's dnsmasq)
// and with the static address Summon puts on its command line (the peer), same run, same
// image. Timed: instance.started → instance.healthy, the guest's own uptime when httpd
// listens, and the DHCP exchange as dnsmasq logged it (DISCOVER → ACK).
// Needs root (taps). Usage: node dist/bench/vm-dhcp.js [N]   → bench/results/vm-dhcp.json
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent } from '../src/agent/agent.js';
import { sha256File } from '../src/artifacts/verify.js';
import { QemuRuntime } from '../src/runtimes/qemu/qemu-runtime.js';
import { buildVmHello } from '../src/runtimes/qemu/vm-hello-fixture.js';
import { TapDhcp } from '../src/runtimes/tap-dhcp.js';
import { TapPool } from '../src/runtimes/tap-net.js';
import { waitFor } from '../src/testing/wait.js';

type Mode = 'dhcp' | 'static';
interface Run { mode: Mode; startToHealthyMs: number; guestUptimeAtHttpdMs: number | null; networkSetupMs: number | null; exchangeMs: number | null }

const n = Math.max(1, Number(process.argv[2] ?? 5));
const img = await buildVmHello();
const kernelSha = await sha256File(img.kernel);
const initrdSha = await sha256File(img.initrd);
const root = await mkdtemp(join(tmpdir(), 'summon-bench-dhcp-'));
const dhcp = new TapDhcp({ dir: join(root, 'dhcp') });
const taps = new TapPool({ dhcp });
const tapCap = await taps.capability();
if (!tapCap.ok || !(await dhcp.capability()).ok) {
  console.error(`taps with DHCP are not available here: ${tapCap.reason}`);
  process.exit(1);
}
const rt = new QemuRuntime({ stateDir: join(root, 'state'), taps, network: 'tap' });
const cap = await rt.capability();
if (!cap.available) {
  console.error(`qemu is not available: ${cap.reason}`);
  process.exit(1);
}
console.log(`accel: ${cap.accel}; ${tapCap.reason}`);

const marks = new Map<string, { started?: number; healthy?: number; uptime?: number; setup?: number }>();
const mark = (id: string) => marks.get(id) ?? marks.set(id, {}).get(id)!;
let exchange: { discover?: number; ack?: number } = {};
const agent = new Agent({
  hostId: 'bench', dataDir: join(root, 'agent'), runtimes: [rt],
  artifactPath: (sha) => (sha === kernelSha ? img.kernel : img.initrd),
  onStatus: () => {},
  onConsole: (_app, id, line) => {
    const m = /vm-hello: httpd listening .* uptime=([\d.]+)s/.exec(line);
    if (m) mark(id).uptime ??= Number(m[1]) * 1000;
    const n = /vm-hello: network: \w+ set up in (\d+) ms/.exec(line);
    if (n) mark(id).setup ??= Number(n[1]);
  },
  onEvent: (e) => {
    if (e.type === 'instance.started') mark(e.instance).started ??= performance.now();
    if (e.type === 'instance.healthy') {
      mark(e.instance).healthy ??= performance.now();
      // The tap's server keeps what it saw until the tap goes: read it while the guest runs.
      const addr = agent.instances().find((i) => i.id === e.instance)?.address;
      const slot = addr ? addr.split('.').map(Number) : null;
      if (slot) {
        const tap = `smn${(((slot[2] * 256 + slot[3]) - 2) / 4).toString(16).padStart(4, '0')}`;
        const seen = dhcp.seen(tap);
        exchange = { ...(seen?.packets.discover ? { discover: seen.packets.discover } : {}), ...(seen?.packets.ack ? { ack: seen.packets.ack } : {}) };
      }
    }
  },
});
await agent.start();
const runs: Run[] = [];
for (let i = 0; i < 2 * n; i++) {
  const mode: Mode = i % 2 === 0 ? 'dhcp' : 'static';
  const id = `${mode}-${i}`;
  exchange = {};
  await agent.setDesired([{
    id, app: 'vm-hello', version: 1, target: 'qemu', artifactSha256: kernelSha, initrdSha256: initrdSha, args: [], env: {},
    guestPort: 8080, memoryBytes: 128 * 1024 * 1024, cmdline: `quiet VM_HELLO_NET=${mode}`, network: 'tap',
    health: { kind: 'http', path: '/healthy', intervalMs: 1000, timeoutMs: 1000, healthyThreshold: 1, unhealthyThreshold: 3, graceMs: 60_000 },
  }]);
  const m = await waitFor(() => { const x = marks.get(id); return x?.healthy && x.started && x.uptime ? x : undefined; }, { timeoutMs: 90_000, what: `${id} healthy` });
  const run: Run = {
    mode, startToHealthyMs: Math.round(m.healthy! - m.started!), guestUptimeAtHttpdMs: m.uptime ?? null, networkSetupMs: m.setup ?? null,
    exchangeMs: exchange.discover && exchange.ack ? exchange.ack - exchange.discover : null,
  };
  runs.push(run);
  console.log(`${mode} run ${Math.floor(i / 2) + 1}/${n}: network set up in ${run.networkSetupMs ?? '?'} ms (guest clock); started → healthy ${run.startToHealthyMs} ms; guest uptime at httpd ${run.guestUptimeAtHttpdMs} ms` +
    (mode === 'dhcp' ? `; DHCPDISCOVER → DHCPACK ${run.exchangeMs ?? '?'} ms` : ''));
  await agent.setDesired([]);
}
await agent.close();
await dhcp.close();
await rm(root, { recursive: true, force: true });

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
};
const of = (mode: Mode, f: (r: Run) => number | null) => median(runs.filter((r) => r.mode === mode).flatMap((r) => { const v = f(r); return v === null ? [] : [v]; }));
const med = {
  dhcpStartToHealthyMs: of('dhcp', (r) => r.startToHealthyMs),
  staticStartToHealthyMs: of('static', (r) => r.startToHealthyMs),
  dhcpGuestUptimeAtHttpdMs: of('dhcp', (r) => r.guestUptimeAtHttpdMs),
  staticGuestUptimeAtHttpdMs: of('static', (r) => r.guestUptimeAtHttpdMs),
  exchangeMs: of('dhcp', (r) => r.exchangeMs),
  dhcpNetworkSetupMs: of('dhcp', (r) => r.networkSetupMs),
  staticNetworkSetupMs: of('static', (r) => r.networkSetupMs),
};
const ratio = Math.round((med.dhcpStartToHealthyMs / med.staticStartToHealthyMs) * 100) / 100;
const setupRatio = Math.round((med.dhcpNetworkSetupMs / Math.max(10, med.staticNetworkSetupMs)) * 10) / 10;
const result = {
  bench: 'vm-dhcp', at: new Date().toISOString(), accel: cap.accel, capability: cap.reason, n, runs,
  median: { ...med, costMs: med.dhcpStartToHealthyMs - med.staticStartToHealthyMs, ratio, setupCostMs: med.dhcpNetworkSetupMs - med.staticNetworkSetupMs, setupRatio },
  notes: [
    'networkSetupMs: the guest\'s own clock (/proc/uptime, 10 ms steps) around taking its address: udhcpc\'s whole exchange (dhcp) or two `ip` commands (static). The load on the machine does not shift it as it shifts whole boots.',
    'Peer: the same guest taking the static address Summon writes on its command line (SUMMON_ADDR), booted alternately with the DHCP runs in the same process.',
    'costMs = median start → healthy (dhcp) − the same (static); exchangeMs = dnsmasq\'s DHCPDISCOVER → DHCPACK as Summon read its log (ms resolution).',
  ],
};
const outDir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
await mkdir(outDir, { recursive: true });
await writeFile(join(outDir, 'vm-dhcp.json'), JSON.stringify(result, null, 2) + '\n');
console.log(`median network set up, guest clock: DHCP ${med.dhcpNetworkSetupMs} ms vs static ${med.staticNetworkSetupMs} ms (${result.median.setupCostMs} ms more, ${setupRatio}×)`);
console.log(`median start → healthy: DHCP guest ${med.dhcpStartToHealthyMs} ms vs static guest ${med.staticStartToHealthyMs} ms: ` +
  `${ratio}× (the DHCP exchange costs ${result.median.costMs} ms; DISCOVER → ACK ${med.exchangeMs} ms; guest uptime at httpd ${med.dhcpGuestUptimeAtHttpdMs} vs ${med.staticGuestUptimeAtHttpdMs} ms; accel ${cap.accel})`);
console.log(`wrote ${join(outDir, 'vm-dhcp.json')}`);
