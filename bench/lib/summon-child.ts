// Runs Summon (the startSummon composition root, process runtime only) in its own process for
// benchmarks that need options `summon up` has no flag for:
//   node dist/bench/lib/summon-child.js '{"dataDir":"…","autoscale":{"outMs":1000}}'
// Prints one JSON line {"apiUrl","routerUrl","token"} once up; stops cleanly on SIGTERM or
// when its stdin closes (the benchmark exited, however it exited). A line "mem" on stdin
// (run with --expose-gc) forces two full GCs and answers {"mem":{rss,heapUsed,external,arrayBuffers}}:
// memory figures with the garbage of the moment taken out, not V8's collection schedule.
import { startSummon, type SummonOptions } from '../../src/server.js';

const o = JSON.parse(process.argv[2] ?? '{}') as SummonOptions;
const s = await startSummon({ ...o, apiPort: 0, routerPort: 0 });
process.stdout.write(JSON.stringify({ apiUrl: s.apiUrl, routerUrl: s.routerUrl, token: s.token }) + '\n');
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  void s.stop().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// stdin is a pipe from the benchmark: its end means the benchmark is gone, so stop too.
process.stdin.on('end', stop);
let pending = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (c: string) => {
  pending += c;
  for (let i = pending.indexOf('\n'); i >= 0; i = pending.indexOf('\n')) {
    const cmd = pending.slice(0, i).trim();
    pending = pending.slice(i + 1);
    if (cmd !== 'mem') continue;
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    gc?.();
    const m = process.memoryUsage();
    process.stdout.write(JSON.stringify({ mem: { rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers }, gc: gc !== undefined }) + '\n');
  }
});
process.stdin.on('error', stop);
process.stdin.resume();
