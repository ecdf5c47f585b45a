// The CLI as a heroku user drives it, against a real `summon up` and the real git client:
// `summon create`, `summon git:remote -a APP` (the remote and its credential helper), a plain
// `git push summon main` that authenticates through the helper with no token in the URL, then
// commands that find the app from the remote by themselves, and `events --tail` that misses
// nothing across a restart of Summon, and logs --tail that prints no line twice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BIN, cliJson, exampleRepo, startSummonProcess, tempDir, viaRouter, type CliResult, type SummonProcess } from './harness.js';
import { scaled, waitFor } from '../../src/testing/wait.js';

/** `summon …` run in `cwd` (so the git remote there counts), with Summon's saved login. */
function summonIn(s: { env: NodeJS.ProcessEnv }, cwd: string, ...args: string[]): Promise<CliResult> {
  return run(process.execPath, [BIN, ...args], cwd, s.env);
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, env, timeout: scaled(300_000), maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
  });
}

test('create, git:remote and a plain git push through the credential helper; the app inferred from the remote; events --tail across a restart', async (t) => {
  const root = await tempDir('cli');
  const data = join(root, 'data');
  let s: SummonProcess = await startSummonProcess(data);
  t.after(async () => {
    await s.stop();
    await rm(root, { recursive: true, force: true });
  });
  const repo = await exampleRepo('hello-node');
  t.after(() => rm(repo, { recursive: true, force: true }));

  const created = await summonIn(s, repo, 'create', 'house');
  assert.equal(created.code, 0, created.stderr);
  assert.match(created.stdout, /summon git:remote -a house/);

  const remote = await summonIn(s, repo, 'git:remote', '-a', 'house');
  assert.equal(remote.code, 0, remote.stderr);
  const url = (await run('git', ['config', '--get', 'remote.summon.url'], repo, process.env)).stdout.trim();
  assert.equal(url, `${s.apiUrl}/git/house.git`);
  assert.ok(!url.includes(s.token), 'no token in the remote URL');

  // As a user types it: no credentials given, none in the URL; git asks the helper. No other
  // helper or prompt can answer (GIT_TERMINAL_PROMPT=0, no global or system git config).
  const gitEnv = { ...s.env, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' };
  const pushed = await run('git', ['push', 'summon', 'main'], repo, gitEnv);
  assert.equal(pushed.code, 0, pushed.stderr);
  assert.match(pushed.stderr, /remote: -----> Released v1/);
  assert.ok(!pushed.stderr.includes(s.token));

  // Without the helper git has nothing to authenticate with: the push is refused.
  const bare = await run('git', ['-c', `credential.${s.apiUrl}.helper=`, 'push', 'summon', 'main:other'], repo, gitEnv);
  assert.notEqual(bare.code, 0, 'a push with no credential must be refused');

  // Commands in the repository find the app from the remote.
  const info = await run(process.execPath, [BIN, 'apps:info', '--json'], repo, s.env);
  assert.equal(info.code, 0, info.stderr);
  assert.equal(JSON.parse(info.stdout).name, 'house');
  const open = await summonIn(s, repo, 'open');
  assert.equal(open.code, 0, open.stderr);
  assert.equal(open.stdout.trim(), JSON.parse(info.stdout).url);
  assert.equal((await viaRouter(s, 'house')).status, 200);

  // events --tail across a restart of Summon: what happens while it is down is printed after,
  // once, and one "reconnecting" line stands for the whole outage.
  const tail = spawn(process.execPath, [BIN, 'events', '--tail', '--json', '-n', '1000'], { cwd: repo, env: s.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  tail.stdout.on('data', (c) => (out += c));
  tail.stderr.on('data', (c) => (err += c));
  const tailExit = new Promise((r) => tail.once('exit', r));
  t.after(async () => {
    tail.kill('SIGINT');
    await tailExit;
  });
  // logs --tail beside it: one reconnecting line too, and no line printed twice.
  const logTail = spawn(process.execPath, [BIN, 'logs', '--tail', '--json'], { cwd: repo, env: s.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let logOut = '';
  let logErr = '';
  logTail.stdout.on('data', (c) => (logOut += c));
  logTail.stderr.on('data', (c) => (logErr += c));
  const logExit = new Promise((r) => logTail.once('exit', r));
  t.after(async () => {
    logTail.kill('SIGINT');
    await logExit;
  });
  await waitFor(() => /"release\.live"/.test(out), { timeoutMs: 30_000, what: `events --tail to print the history (${err})` });
  await waitFor(() => logOut.length > 0, { timeoutMs: 30_000, what: `logs --tail to print the history (${logErr})` });
  await s.stop();
  await waitFor(() => /reconnecting/.test(err), { timeoutMs: 30_000, what: 'the reconnecting line' });
  // Back on the same data dir and ports (same URL, so the saved login still points at it).
  s = await startSummonProcess(data, ['--api-port', new URL(s.apiUrl).port, '--router-port', String(s.routerPort)]);
  const set = await summonIn(s, repo, 'config:set', 'GREETING=hi');
  assert.equal(set.code, 0, set.stderr);
  await waitFor(() => /reconnected/.test(err), { timeoutMs: 30_000, what: `events --tail to reconnect (${err})` });
  const stored = await cliJson(s, 'events', '-a', 'house', '-n', '1000', '--json') as { id: number }[];
  const lastId = stored.at(-1)!.id;
  const ids = () => out.trim().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { id: number }).id);
  await waitFor(() => ids().includes(lastId), { timeoutMs: 30_000, what: `events --tail to print every event up to ${lastId} (printed:\n${out})` });
  const printed = ids();
  assert.deepEqual(printed.filter((id) => id <= lastId), stored.map((e) => e.id), 'every stored event printed once, in order');
  assert.ok(printed.every((id, i) => i === 0 || id > printed[i - 1]), `no event twice: ${printed.join(',')}`);
  assert.equal(err.match(/reconnecting/g)?.length, 1, err);
  // The config change's deploy lines (logged after the restart) reach logs --tail.
  await waitFor(() => /reconnected/.test(logErr) && /GREETING|v2/.test(logOut), { timeoutMs: 30_000, what: `logs --tail to reconnect and print the new release's lines (${logErr})` });
  assert.equal(logErr.match(/reconnecting/g)?.length, 1, logErr);
  const lines = logOut.trim().split('\n').map((l) => JSON.parse(l) as { seq: number; at: number; text: string });
  const keys = lines.map((l) => `${l.at}/${l.seq}/${l.text}`);
  assert.equal(new Set(keys).size, keys.length, `no log line twice:\n${logOut}`);
});
