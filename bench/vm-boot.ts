// Boots vm-hello through QemuRuntime N times and separates Summon's overhead from the
// guest's own boot: start() → first 200 on /healthy, against the guest's uptime when its
// httpd started (printed on the console) and QEMU launch → first console line.
// Usage: node dist/bench/vm-boot.js [N]   → bench/results/vm-boot.json
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { QemuRuntime } from '../src/runtimes/qemu/qemu-runtime.js';
import { buildVmHello } from '../src/runtimes/qemu/vm-hello-fixture.js';
import { freePort, httpGet, waitFor } from '../src/testing/wait.js';

interface Run {
  startCallMs: number;
  firstConsoleMs: number | null;
  httpdUpMs: number | null;
  guestUptimeAtHttpdMs: number | null;
  healthyMs: number;
  overheadMs: number | null;
  qemuRssBytes: number;
  summonHeapDeltaBytes: number;
  stopMs: number;
}

const n = Math.max(1, Number(process.argv[2] ?? 3));
const img = await buildVmHello();
const root = await mkdtemp(join(tmpdir(), 'summon-bench-vm-'));
const rt = new QemuRuntime({ stateDir: join(root, 'state') });
const cap = await rt.capability();
if (!cap.available) {
  console.error(`qemu is not available: ${cap.reason}`);
  process.exit(1);
}
console.log(`accel: ${cap.accel} (${cap.reason})`);

const runs: Run[] = [];
for (let i = 0; i < n; i++) {
  const workDir = join(root, `run-${i}`);
  await mkdir(workDir);
  const id = `bench-${i}`;
  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  let firstConsoleMs: number | null = null;
  let httpdUpMs: number | null = null;
  let guestUptimeAtHttpdMs: number | null = null;
  const port = await freePort();
  const t0 = performance.now();
  const handle = await rt.start({
    id, app: 'vm-hello', version: 1, target: 'qemu', artifactPath: img.kernel, initrdPath: img.initrd, args: [],
    env: {}, guestPort: 8080, memoryBytes: 128 * 1024 * 1024, cmdline: 'quiet', workDir, hostPort: port,
  }, (line, stream) => {
    if (stream !== 'console') return;
    const at = performance.now() - t0;
    firstConsoleMs ??= at;
    const m = /vm-hello: httpd listening .* uptime=([\d.]+)s/.exec(line);
    if (m) {
      httpdUpMs = at;
      guestUptimeAtHttpdMs = Number(m[1]) * 1000;
    }
  });
  const startCallMs = performance.now() - t0;
  // Short per-request timeouts: QEMU's user-mode network accepts a connection before the
  // guest listens and then retries the guest's SYN with a multi-second backoff.
  await waitFor(async () => {
    const r = await httpGet(`http://127.0.0.1:${handle.port}/healthy`, { timeoutMs: 300 }).catch(() => undefined);
    return r?.status === 200;
  }, { timeoutMs: 60_000, intervalMs: 20, what: '/healthy' });
  const healthyMs = performance.now() - t0;
  const stats = await rt.stats(id);
  const summonHeapDeltaBytes = process.memoryUsage().heapUsed - heapBefore;
  const t1 = performance.now();
  await rt.stop(id, { graceMs: 10_000 });
  const stopMs = performance.now() - t1;
  const gU = guestUptimeAtHttpdMs as number | null;
  const run: Run = {
    startCallMs: Math.round(startCallMs),
    firstConsoleMs: firstConsoleMs === null ? null : Math.round(firstConsoleMs),
    httpdUpMs: httpdUpMs === null ? null : Math.round(httpdUpMs),
    guestUptimeAtHttpdMs: gU,
    healthyMs: Math.round(healthyMs),
    overheadMs: gU === null ? null : Math.round(healthyMs - gU),
    qemuRssBytes: stats?.memoryBytes ?? 0,
    summonHeapDeltaBytes,
    stopMs: Math.round(stopMs),
  };
  runs.push(run);
  console.log(`run ${i + 1}/${n}: healthy ${run.healthyMs} ms after start() (start() itself ${run.startCallMs} ms); ` +
    `guest uptime at httpd ${gU ?? '?'} ms; overhead ${run.overheadMs ?? '?'} ms; qemu RSS ${(run.qemuRssBytes / 2 ** 20).toFixed(1)} MiB; stop ${run.stopMs} ms`);
}
await rm(root, { recursive: true, force: true });

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
};
const result = {
  bench: 'vm-boot',
  at: new Date().toISOString(),
  accel: cap.accel,
  capability: cap.reason,
  runs,
  median: {
    healthyMs: median(runs.map((r) => r.healthyMs)),
    guestUptimeAtHttpdMs: median(runs.flatMap((r) => (r.guestUptimeAtHttpdMs === null ? [] : [r.guestUptimeAtHttpdMs]))),
    overheadMs: median(runs.flatMap((r) => (r.overheadMs === null ? [] : [r.overheadMs]))),
    firstConsoleMs: median(runs.flatMap((r) => (r.firstConsoleMs === null ? [] : [r.firstConsoleMs]))),
    qemuRssMiB: Number((median(runs.map((r) => r.qemuRssBytes)) / 2 ** 20).toFixed(1)),
    summonHeapPerVmKiB: Number((median(runs.map((r) => r.summonHeapDeltaBytes)) / 1024).toFixed(1)),
    stopMs: median(runs.map((r) => r.stopMs)),
  },
  notes: [
    'overheadMs = healthyMs - guest uptime when httpd started: QEMU start, firmware/kernel loading before the guest clock runs, and the health poll.',
    'summonHeapPerVmKiB is the Node heap growth while one VM runs (noisy without --expose-gc).',
  ],
};
const outDir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
await mkdir(outDir, { recursive: true });
await writeFile(join(outDir, 'vm-boot.json'), JSON.stringify(result, null, 2) + '\n');
console.log(`median: healthy ${result.median.healthyMs} ms, guest ${result.median.guestUptimeAtHttpdMs} ms, ` +
  `Summon+QEMU overhead ${result.median.overheadMs} ms, qemu RSS ${result.median.qemuRssMiB} MiB (accel ${cap.accel})`);
console.log(`wrote ${join(outDir, 'vm-boot.json')}`);
