import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { SummonClient } from '../../src/sdk/client.js';
import { waitFor } from '../../src/testing/wait.js';
import { git } from './platform.js';

// The app both log benchmarks (logs, drains) deploy: a process-target Node script that prints
// lines as fast as console.log goes, so what is measured is Summon's path, not the app.
// The app: on GET /spew?n=N&round=R it prints N lines of ~100 bytes to stdout, then answers
// with the time its write loop took. Run as `node spew.mjs --file N` it writes them to stdout
// (redirected to a file by the bench) and prints the loop time on stderr.
export const SPEW_APP = `#!/usr/bin/env node
import http from 'node:http';
const pad = 'x'.repeat(64);
function spew(n, round) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) console.log(\`spew \${round} \${i} \${pad}\`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}
if (process.argv[2] === '--file') {
  const ms = spew(Number(process.argv[3]), 'file');
  process.stderr.write(JSON.stringify({ ms }) + '\\n');
} else {
  const i = process.argv.indexOf('--port');
  const port = Number(i >= 0 ? process.argv[i + 1] : process.env.PORT);
  http.createServer((req, res) => {
    const u = new URL(req.url, 'http://x');
    if (u.pathname === '/spew') {
      const ms = spew(Number(u.searchParams.get('n')), u.searchParams.get('round'));
      res.end(JSON.stringify({ ms }));
    } else res.end('ok\\n');
  }).listen(port, '127.0.0.1', () => console.log('spew listening on ' + port));
}
`;
export const SPEW_TOML = `[build]
artifact = "spew.mjs"

[run]
target = "process"
args = ["--port", "{port}"]

[scale]
min = 1
max = 1
`;

/** The peer of both benchmarks: the app (in DIR/app/spew.mjs) writing the same `lines` lines
 *  straight to a file; resolves with its own write-loop time. */
export async function spewToFile(dir: string, round: number, lines: number): Promise<{ ms: number }> {
  const out = path.join(dir, `file-${round}.log`);
  const fd = openSync(out, 'w');
  const p = spawn(process.execPath, [path.join(dir, 'app', 'spew.mjs'), '--file', String(lines)], { stdio: ['ignore', fd, 'pipe'] });
  closeSync(fd);
  let err = '';
  p.stderr!.on('data', (c) => (err += c));
  await new Promise((r) => p.once('exit', r));
  const got = (await readFile(out, 'utf8')).split('\n').length - 1;
  if (got !== lines) throw new Error(`the file got ${got} lines, not ${lines}`);
  return JSON.parse(err) as { ms: number };
}

/** Creates `app` and pushes the spew app to it (from `dir`/app) with the real git client;
 *  resolves once its instance is healthy. */
export async function deploySpewApp(s: { apiUrl: string; token: string }, c: SummonClient, app: string, dir: string): Promise<void> {
  await c.createApp(app);
  const appDir = path.join(dir, 'app');
  await mkdir(appDir);
  await writeFile(path.join(appDir, 'spew.mjs'), SPEW_APP, { mode: 0o755 });
  await writeFile(path.join(appDir, 'summon.toml'), SPEW_TOML);
  await git(appDir, 'init', '-q', '-b', 'main');
  await git(appDir, 'add', '-A');
  await git(appDir, '-c', 'user.email=bench@example.com', '-c', 'user.name=bench', 'commit', '-q', '-m', 'spew');
  const remote = new URL(`${s.apiUrl}/git/${app}.git`);
  remote.username = 'summon';
  remote.password = s.token;
  await git(appDir, 'push', '-q', remote.toString(), 'main');
  await waitFor(async () => (await c.app(app)).instances.healthy === 1, { timeoutMs: 60_000, what: 'the spew app to be healthy' });
}
