// hello-node: answers who it is (release and instance), reports health, and can burn CPU
// on demand so autoscaling can be exercised.
//
//   GET /            "hello from hello-node v3 (instance web-1a2b3c4d5e)"
//   GET /healthy     200 ok
//   GET /cpu?ms=N    busy-loops for N ms (max 10000), then answers
//   GET /slow?ms=N   waits N ms without using CPU (max 60000): an in-flight request for drain tests
//
// Port: --port N (or --port=N), else $PORT, else 8080. On SIGTERM it stops accepting,
// lets in-flight requests finish, then exits 0.
import http from 'node:http';

function portFromArgs(argv) {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--port') return argv[i + 1];
    if (argv[i].startsWith('--port=')) return argv[i].slice('--port='.length);
  }
  return undefined;
}

const portText = portFromArgs(process.argv.slice(2)) ?? process.env.PORT ?? '8080';
const port = Number(portText);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`invalid port ${JSON.stringify(portText)}: pass --port N or set PORT`);
  process.exit(2);
}

const release = process.env.SUMMON_RELEASE ? (/^v/.test(process.env.SUMMON_RELEASE) ? process.env.SUMMON_RELEASE : `v${process.env.SUMMON_RELEASE}`) : 'dev';
const instance = process.env.SUMMON_INSTANCE ?? 'local';
let shuttingDown = false;

function clampMs(value, max) {
  const n = Number(value ?? 0);
  return Number.isFinite(n) ? Math.min(Math.max(0, Math.floor(n)), max) : 0;
}

const server = http.createServer((req, res) => {
  const started = Date.now();
  res.on('finish', () => {
    console.log(`${req.method} ${req.url} ${res.statusCode} ${Date.now() - started}ms instance=${instance}`);
  });
  // While draining, ask clients not to reuse the connection so shutdown is not held open.
  if (shuttingDown) res.setHeader('connection', 'close');
  const url = new URL(req.url ?? '/', 'http://localhost');
  const send = (status, text) => {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(text);
  };
  if (url.pathname === '/') {
    return send(200, `hello from hello-node ${release} (instance ${instance})\n`);
  }
  if (url.pathname === '/healthy') {
    return send(200, 'ok\n');
  }
  if (url.pathname === '/cpu') {
    const ms = clampMs(url.searchParams.get('ms'), 10_000);
    const until = Date.now() + ms;
    let x = 0;
    while (Date.now() < until) x += Math.sqrt(x + 1);
    return send(200, `burned ${ms}ms of cpu\n`);
  }
  if (url.pathname === '/slow') {
    const ms = clampMs(url.searchParams.get('ms'), 60_000);
    // Headers go out at once, so a client knows the request is in flight before the body.
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.flushHeaders();
    setTimeout(() => res.end(`waited ${ms}ms\n`), ms);
    return;
  }
  send(404, 'not found\n');
});

// STARTUP_DELAY_MS (a config var) makes the app slow to boot, to show requests being held.
const startupDelay = clampMs(process.env.STARTUP_DELAY_MS, 60_000);
setTimeout(() => server.listen(port, () => {
  console.log(`hello-node ${release} listening on port ${server.address().port} instance=${instance}`);
}), startupDelay);

process.on('SIGTERM', () => {
  if (shuttingDown) return;
  shuttingDown = true;
  console.log('SIGTERM: finishing in-flight requests');
  server.close(() => {
    console.log('stopped');
    process.exit(0);
  });
  server.closeIdleConnections();
  // A client holding a connection open must not keep us alive forever.
  setTimeout(() => process.exit(0), 10_000).unref();
});
