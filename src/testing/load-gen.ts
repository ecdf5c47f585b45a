// A load generator in its own process, for tests and benchmarks: a steady request rate through
// the router with keep-alive connections, a bounded count; SIGTERM stops it after in-flight
// requests finish. It counts statuses, errors and the release named by each 2xx body; with
// `samples` it also keeps [start, end, release] per 2xx response (for tests that check which
// release served when; long benchmark runs leave it off so the summary stays small).
// argv: routerPort host path rate max concurrency [samples]
// Prints "started EPOCH_MS" at its first request, "progress N" lines, then one JSON line
// {sent, statuses, errors, releases, seconds, samples?}; exits once that line is flushed.
import http from 'node:http';

const [portS, host, path, rateS, maxS, concS, samplesArg] = process.argv.slice(2);
const keepSamples = samplesArg === 'samples';
const samples: [number, number, string][] = [];
const port = Number(portS);
const rate = Number(rateS);
const max = Number(maxS);
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(concS) || 16 });
const statuses: Record<string, number> = {};
const errors: Record<string, number> = {};
const releases: Record<string, number> = {};
let sent = 0;
let inflight = 0;
let completed = 0;
let stopping = false;
let exiting = false;
const t0 = Date.now();

function one(): void {
  if (sent === 0) process.stdout.write(`started ${Date.now()}\n`);
  sent += 1;
  inflight += 1;
  const start = Date.now();
  const req = http.request({ host: '127.0.0.1', port, path, agent, headers: { host } }, (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (c: string) => (body += c));
    res.on('end', () => {
      const k = String(res.statusCode);
      statuses[k] = (statuses[k] ?? 0) + 1;
      if (k.startsWith('2')) {
        const v = /\bv\d+\b/.exec(body)?.[0] ?? '?';
        releases[v] = (releases[v] ?? 0) + 1;
        if (keepSamples) samples.push([start, Date.now(), v]);
      }
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
  completed += 1;

  maybeExit();
}

function maybeExit(): void {
  if (exiting || !((stopping || sent >= max) && inflight === 0)) return;
  exiting = true;
  const summary = JSON.stringify({ sent, statuses, errors, releases, seconds: (Date.now() - t0) / 1000, ...(keepSamples ? { samples } : {}) });
  process.stdout.write(`progress ${completed}\n${summary}\n`, () => process.exit(0));
}

const timer = setInterval(() => {
  if (stopping) return;
  const due = Math.min(max, Math.floor(((Date.now() - t0) / 1000) * rate));
  while (sent < due) one();
  if (sent >= max) {
    clearInterval(timer);
    maybeExit();
  }
}, 5);

// Progress ten times a second (when it moved), so a caller can wait for "N requests done"
// at any rate.
let reported = 0;
const progress = setInterval(() => {
  if (completed !== reported && !exiting) {
    reported = completed;
    process.stdout.write(`progress ${completed}\n`);
  }
}, 100);
progress.unref();

process.on('SIGTERM', () => {
  stopping = true;
  clearInterval(timer);
  maybeExit();
});
