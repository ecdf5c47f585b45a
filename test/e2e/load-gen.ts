// A load generator in its own process: a steady request rate through the router with
// keep-alive connections, a bounded count, stops on SIGTERM after in-flight requests finish.
// argv: routerPort host path rate max concurrency. Prints "progress N" lines, then one JSON summary.
import http from 'node:http';

const [portS, host, path, rateS, maxS, concS] = process.argv.slice(2);
const port = Number(portS);
const rate = Number(rateS);
const max = Number(maxS);
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(concS) || 16 });
const statuses: Record<string, number> = {};
const errors: Record<string, number> = {};
const samples: [number, number, string][] = [];
let sent = 0;
let inflight = 0;
let completedN = 0;
let stopping = false;
const t0 = Date.now();

function one(): void {
  sent += 1;
  inflight += 1;
  const start = Date.now();
  const req = http.request({ host: '127.0.0.1', port, path, agent, headers: { host } }, (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (c) => (body += c));
    res.on('end', () => {
      const k = String(res.statusCode);
      statuses[k] = (statuses[k] ?? 0) + 1;
      if (k.startsWith('2')) samples.push([start, Date.now(), /\bv\d+\b/.exec(body)?.[0] ?? '?']);
      finish();
    });
    res.on('error', (e) => fail(e));
  });
  req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
  const fail = (e: Error & { code?: string }) => {
    const k = e.code ?? e.message;
    errors[k] = (errors[k] ?? 0) + 1;
    finish();
  };
  req.on('error', fail);
  req.end();
}

function finish(): void {
  inflight -= 1;
  completedN += 1;
  if (completedN % 50 === 0) process.stdout.write(`progress ${completedN}\n`);
  maybeExit();
}

let exiting = false;
function maybeExit(): void {
  if ((stopping || sent >= max) && inflight === 0 && !exiting) {
    exiting = true;
    // Exit only once the (possibly large) summary is flushed to the pipe.
    process.stdout.write(`progress ${completedN}\n${JSON.stringify({ sent, statuses, errors, samples })}\n`, () => process.exit(0));
  }
}

const timer = setInterval(() => {
  if (stopping) return;
  // Catch up to the schedule: sent should equal elapsed × rate.
  const due = Math.min(max, Math.floor(((Date.now() - t0) / 1000) * rate));
  while (sent < due) one();
  if (sent >= max) {
    clearInterval(timer);
    maybeExit();
  }
}, 5);

process.on('SIGTERM', () => {
  stopping = true;
  clearInterval(timer);
  maybeExit();
});
