// Runs Summon (the startSummon composition root, process runtime only) in its own process for
// benchmarks that need options `summon up` has no flag for:
//   node dist/bench/lib/summon-child.js '{"dataDir":"…","autoscale":{"outMs":1000}}'
// Prints one JSON line {"apiUrl","routerUrl","token"} once up; stops cleanly on SIGTERM or
// when its stdin closes (the benchmark exited, however it exited).
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
process.stdin.on('error', stop);
process.stdin.resume();
