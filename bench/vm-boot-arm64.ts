// arm64 boot to healthy under TCG beside x86, in the same run: vm-hello (x86_64, Debian's
// amd64 cloud kernel) and vm-hello-arm64 (Debian's arm64 cloud kernel, qemu-system-aarch64
// -M virt -cpu cortex-a57) booted N times each, alternating, through Summon's own path (the
// agent → the qemu runtime → health checks), each on a tap when the host can make them.
// Timed from the agent's instance.started to instance.healthy; the guest's own boot (its
// uptime when httpd starts, from its console) is reported beside it.
// Usage: node dist/bench/vm-boot-arm64.js [N]   → bench/results/vm-boot-arm64.json
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent } from '../src/agent/agent.js';
import { sha256File } from '../src/artifacts/verify.js';
import { QemuRuntime } from '../src/runtimes/qemu/qemu-runtime.js';
import { buildVmHello, buildVmHelloArm64, type VmHelloImage } from '../src/runtimes/qemu/vm-hello-fixture.js';
import { waitFor } from '../src/testing/wait.js';

const n = Math.max(1, Number(process.argv[2] ?? 5));
type Arch = 'x86_64' | 'aarch64';
const images: Record<Arch, VmHelloImage> = { x86_64: await buildVmHello(), aarch64: await buildVmHelloArm64() };
const digests = new Map<string, string>();
for (const img of Object.values(images)) for (const f of [img.kernel, img.initrd]) digests.set(await sha256File(f), f);
const sha = (path: string) => [...digests].find(([, p]) => p === path)![0];

const root = await mkdtemp(join(tmpdir(), 'summon-bench-arm64-'));
const rt = new QemuRuntime({ stateDir: join(root, 'agent') });
const cap = await rt.capability();
if (!cap.available || !cap.arches?.some((a) => a.arch === 'aarch64')) {
  console.error(`qemu cannot run aarch64 guests here: ${cap.reason}`);
  process.exit(1);
}
console.log(`qemu: ${cap.reason}`);

interface Boot { arch: Arch; startToHealthyMs: number; guestUptimeAtHttpdMs: number | null }
const boots: Boot[] = [];
const marks = new Map<string, { started?: number; healthy?: number; uptime?: number }>();
const mark = (id: string) => marks.get(id) ?? marks.set(id, {}).get(id)!;
const agent = new Agent({
  hostId: 'bench', dataDir: join(root, 'agent'), runtimes: [rt],
  artifactPath: (s) => digests.get(s)!,
  onStatus: () => {},
  onConsole: (_app, id, line) => {
    const m = /httpd listening .* uptime=([\d.]+)s/.exec(line);
    if (m) mark(id).uptime ??= Number(m[1]) * 1000;
  },
  onEvent: (e) => {
    if (e.type === 'instance.started') mark(e.instance).started ??= performance.now();
    if (e.type === 'instance.healthy') mark(e.instance).healthy ??= performance.now();
  },
});
await agent.start();
try {
  for (let i = 0; i < n; i++) {
    for (const arch of ['x86_64', 'aarch64'] as const) {
      const img = images[arch];
      const id = `${arch === 'aarch64' ? 'arm' : 'x86'}-${i}`;
      await agent.setDesired([{
        id, app: arch === 'aarch64' ? 'vm-hello-arm64' : 'vm-hello', version: 1, target: 'qemu',
        artifactSha256: sha(img.kernel), initrdSha256: sha(img.initrd), args: [], env: {},
        guestPort: 8080, memoryBytes: 128 * 1024 * 1024, cmdline: 'quiet',
        health: { kind: 'http', path: '/healthy', intervalMs: 1000, timeoutMs: 1000, healthyThreshold: 1, unhealthyThreshold: 3, graceMs: 120_000 },
      }]);
      const m = await waitFor(() => { const x = marks.get(id); return x?.started && x.healthy ? x : undefined; }, { timeoutMs: 120_000, what: `${id} healthy` });
      const b: Boot = { arch, startToHealthyMs: Math.round(m.healthy! - m.started!), guestUptimeAtHttpdMs: m.uptime ?? null };
      boots.push(b);
      console.log(`${arch.padEnd(7)} boot ${i + 1}/${n}: started → healthy ${b.startToHealthyMs} ms (guest uptime at httpd ${b.guestUptimeAtHttpdMs ?? '?'} ms)`);
      await agent.setDesired([]);
      await waitFor(() => agent.instances().length === 0, { timeoutMs: 60_000, what: `${id} stopped` });
    }
  }
} finally {
  await agent.close();
  await rm(root, { recursive: true, force: true });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
};
const of = (arch: Arch) => {
  const bs = boots.filter((b) => b.arch === arch);
  const healthy = bs.map((b) => b.startToHealthyMs);
  return {
    startToHealthyMs: median(healthy), minMs: Math.min(...healthy), maxMs: Math.max(...healthy),
    guestUptimeAtHttpdMs: median(bs.flatMap((b) => (b.guestUptimeAtHttpdMs === null ? [] : [b.guestUptimeAtHttpdMs]))),
  };
};
const x86 = of('x86_64');
const arm = of('aarch64');
const ratio = Math.round((arm.startToHealthyMs / x86.startToHealthyMs) * 100) / 100;
const result = {
  bench: 'vm-boot-arm64',
  at: new Date().toISOString(),
  capability: cap.reason,
  arches: cap.arches,
  n,
  median: { x86_64: x86, aarch64: arm, ratio },
  boots,
  notes: [
    'Both guests are the same busybox initramfs app on Debian 12\'s cloud kernel (6.1), 128 MiB, one vCPU, booted through the agent (instance.started → instance.healthy), alternating x86 and arm64 so machine load hits both alike.',
    'x86_64 runs under qemu-system-x86_64 -cpu max, aarch64 under qemu-system-aarch64 -M virt -cpu cortex-a57; both TCG on this host (no usable KVM). ratio = aarch64 / x86_64 median.',
  ],
};
const outDir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
await mkdir(outDir, { recursive: true });
await writeFile(join(outDir, 'vm-boot-arm64.json'), JSON.stringify(result, null, 2) + '\n');
console.log(`arm64 boot to healthy (TCG): median ${arm.startToHealthyMs} ms (${arm.minMs}–${arm.maxMs}; guest to httpd ${arm.guestUptimeAtHttpdMs} ms) ` +
  `vs x86_64 ${x86.startToHealthyMs} ms (${x86.minMs}–${x86.maxMs}; guest to httpd ${x86.guestUptimeAtHttpdMs} ms): ${ratio}× the x86 figure, same run, n=${n} each`);
console.log(`wrote ${join(outDir, 'vm-boot-arm64.json')}`);
