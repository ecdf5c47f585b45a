// Tests the built artifact (dist/server.mjs) as Summon will run it: as its own process,
// with --port and the SUMMON_* environment.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';

const server = spawn(fileURLToPath(new URL('./dist/server.mjs', import.meta.url)), ['--port', '0'], {
  env: { ...process.env, SUMMON_RELEASE: '7', SUMMON_INSTANCE: 'web-test1' },
  stdio: ['ignore', 'pipe', 'inherit'],
});
let stdout = '';
server.stdout.setEncoding('utf8');
server.stdout.on('data', (c) => (stdout += c));
const exited = new Promise((resolve) => server.on('exit', (code, signal) => resolve({ code, signal })));

async function waitFor(cond, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = cond();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; output so far:\n${stdout}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function get(port, path, onHeaders) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      onHeaders?.();
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
  });
}

let failed = false;
try {
  const port = Number((await waitFor(() => /listening on port (\d+)/.exec(stdout), 5000, 'the server to listen'))[1]);

  const home = await get(port, '/');
  assert.equal(home.status, 200);
  assert.equal(home.body, 'hello from hello-node v7 (instance web-test1)\n');

  const health = await get(port, '/healthy');
  assert.equal(health.status, 200);

  const t0 = Date.now();
  const cpu = await get(port, '/cpu?ms=60');
  assert.equal(cpu.status, 200);
  assert.ok(Date.now() - t0 >= 60, '/cpu takes at least the asked time');

  assert.equal((await get(port, '/nope')).status, 404);
  await waitFor(() => stdout.includes('GET /nope 404'), 2000, 'the request log line');
  assert.match(stdout, /GET \/ 200 \d+ms instance=web-test1/);

  // An in-flight request survives SIGTERM, then the process exits 0.
  // /slow sends its headers at once: when they arrive, the request is in flight.
  const slow = get(port, '/slow?ms=300', () => server.kill('SIGTERM'));
  const res = await slow;
  assert.equal(res.status, 200);
  assert.equal(res.body, 'waited 300ms\n');
  const { code } = await Promise.race([exited, new Promise((_, rej) => setTimeout(() => rej(new Error('no exit after SIGTERM')), 5000))]);
  assert.equal(code, 0);
  console.log('all hello-node tests passed');
} catch (e) {
  failed = true;
  console.error(e);
} finally {
  if (server.exitCode === null) server.kill('SIGKILL');
}
process.exit(failed ? 1 : 0);
