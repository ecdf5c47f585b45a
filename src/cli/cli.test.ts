// The CLI through main(argv, io) against a small fake of the Summon API (a real HTTP server on
// a free port), with real git and bash where a command uses them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { buildProgram, main } from './main.js';
import type { Io } from './context.js';
import type { SummonEvent } from '../core/types.js';
import { appFromGitUrl } from './app.js';
import { waitFor } from '../testing/wait.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'summon.js');
const TOKEN = 'sk_test_token';

interface Fake {
  url: string;
  requests: { method: string; path: string; auth: string | undefined; body: string }[];
  events: SummonEvent[];
  /** Open event streams: write frames with push(), end them with endStreams(). */
  push(e: SummonEvent): void;
  endStreams(): void;
  /** While down, the stream routes answer 503. */
  down: boolean;
  streamAttempts: number;
  logHistory: { seq: number; at: number; app: string; source: 'app' | 'summon'; proc: string; text: string }[];
  pushLog(l: Fake['logHistory'][number]): void;
}

async function fakeApi(t: { after(f: () => Promise<void>): void }): Promise<Fake> {
  const streams = new Set<http.ServerResponse>();
  const logStreams = new Set<http.ServerResponse>();
  const fake: Fake = {
    url: '', requests: [], events: [], down: false, streamAttempts: 0, logHistory: [],
    push: (e) => { for (const s of streams) s.write(`event: event\ndata: ${JSON.stringify(e)}\n\n`); },
    pushLog: (l) => { for (const s of logStreams) s.write(`event: log\ndata: ${JSON.stringify(l)}\n\n`); },
    endStreams: () => {
      for (const s of [...streams, ...logStreams]) s.end();
      streams.clear();
      logStreams.clear();
    },
  };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const u = new URL(req.url!, 'http://x');
      fake.requests.push({ method: req.method!, path: `${u.pathname}${u.search}`, auth: req.headers.authorization, body });
      const send = (status: number, v: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(v));
      if (req.headers.authorization !== `Bearer ${TOKEN}`) return send(401, { error: { code: 'unauthorized', message: 'bad token' } });
      let m: RegExpExecArray | null;
      if (u.pathname === '/api/whoami') {
        return send(200, { user: { id: 'u1', email: 'admin@example.com', role: 'admin' }, token: { id: 'tok-1', name: 'admin', scope: 'admin', app: null, expiresAt: null }, apps: 'all' });
      }
      if (u.pathname === '/api/apps' && req.method === 'GET') return send(200, [view('web', 'running'), view('broken', 'crashed')]);
      if (u.pathname === '/api/apps' && req.method === 'POST') return send(201, view(JSON.parse(body).name, 'no-release'));
      if ((m = /^\/api\/apps\/([^/]+)$/.exec(u.pathname))) return send(200, view(decodeURIComponent(m[1]), 'running'));
      if ((m = /^\/api\/apps\/([^/]+)\/rollback$/.exec(u.pathname))) {
        res.writeHead(200, { 'content-type': 'application/x-ndjson' });
        return res.end(`${JSON.stringify({ line: 'rolling back' })}\n${JSON.stringify({ done: true, ok: true })}\n`);
      }
      if ((m = /^\/api\/apps\/([^/]+)\/events$/.exec(u.pathname))) {
        const after = Number(u.searchParams.get('after') ?? 0);
        const limit = Number(u.searchParams.get('limit') ?? 200);
        return send(200, fake.events.filter((e) => e.id > after).slice(-limit));
      }
      if (u.pathname === '/api/events/stream' || /\/logs\/stream$/.test(u.pathname)) {
        fake.streamAttempts++;
        if (fake.down) return send(503, { error: { code: 'unavailable', message: 'restarting' } });
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(': open\n\n');
        if (u.pathname === '/api/events/stream') streams.add(res);
        else {
          for (const l of fake.logHistory) res.write(`event: log\ndata: ${JSON.stringify(l)}\n\n`);
          logStreams.add(res);
        }
        return;
      }
      send(404, { error: { code: 'not_found', message: `no route ${u.pathname}` } });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  fake.url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  t.after(async () => {
    fake.endStreams();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  function view(name: string, state: string) {
    return {
      name, url: `http://${name}.localhost:8080/`, gitUrl: `${fake.url}/git/${name}.git`, state, liveVersion: 1, targetVersion: null, desiredCount: 1,
      instances: { total: 1, healthy: 1 }, scale: { min: 1, max: 1, targetCpu: 0.8, idleTimeoutMs: 300000 }, scalePolicySource: 'default',
      manualHoldUntil: null, usageSecondsToday: 0, createdAt: 0,
    };
  }
  return fake;
}

interface Run {
  code: number;
  out: string[];
  err: string[];
}

async function tmp(t: { after(f: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'summon-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function fakeIo(dir: string, env: NodeJS.ProcessEnv, extra: Partial<Io> = {}): Io & { outLines: string[]; errLines: string[] } {
  const outLines: string[] = [];
  const errLines: string[] = [];
  return {
    outLines, errLines, out: (s) => outLines.push(s), err: (s) => errLines.push(s),
    env: { HOME: dir, XDG_CONFIG_HOME: join(dir, 'config'), PATH: process.env.PATH, ...env }, cwd: dir, stdin: Readable.from([]), ...extra,
  };
}

async function summon(io: Io & { outLines: string[]; errLines: string[] }, ...args: string[]): Promise<Run> {
  const from = { out: io.outLines.length, err: io.errLines.length };
  const code = await main(['node', 'summon', ...args], io);
  return { code, out: io.outLines.slice(from.out), err: io.errLines.slice(from.err) };
}

function sh(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = execFile(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
    p.stdin!.on('error', () => {}); // a program that reads nothing may exit first
    p.stdin!.end(opts.input ?? '');
  });
}

const appPaths = (f: Fake) => f.requests.filter((r) => /^\/api\/apps\/[^/]+$/.test(r.path)).map((r) => r.path.slice('/api/apps/'.length));

test('the app comes from -a, a NAME argument, SUMMON_APP or the `summon` git remote, in that order; none exits 2 saying how to give one', async (t) => {
  const f = await fakeApi(t);
  const dir = await tmp(t);
  const env = { SUMMON_API: f.url, SUMMON_TOKEN: TOKEN };
  const io = fakeIo(dir, env);

  const none = await summon(io, 'apps:info');
  assert.equal(none.code, 2);
  assert.match(none.err.join('\n'), /-a APP/);
  assert.match(none.err.join('\n'), /SUMMON_APP/);
  assert.match(none.err.join('\n'), /summon git:remote -a APP/);
  assert.deepEqual(appPaths(f), [], 'no request without an app');

  assert.equal((await summon(io, 'apps:info', '-a', 'flag', '--json')).code, 0);
  assert.equal((await summon(io, 'apps:info', 'positional', '--json')).code, 0);
  const both = await summon(io, 'apps:info', 'one', '-a', 'two');
  assert.equal(both.code, 2);
  assert.match(both.err.join('\n'), /two different apps given: one and -a two/);

  const envIo = fakeIo(dir, { ...env, SUMMON_APP: 'fromenv' });
  assert.equal((await summon(envIo, 'apps:info', '--json')).code, 0);
  assert.equal((await summon(envIo, 'apps:info', '-a', 'flagwins', '--json')).code, 0);

  assert.equal((await sh('git', ['init', '-q', dir])).code, 0);
  assert.equal((await sh('git', ['remote', 'add', 'summon', `${f.url}/git/fromgit.git`], { cwd: dir })).code, 0);
  const gitRun = await summon(io, 'apps:info');
  assert.equal(gitRun.code, 0, gitRun.err.join('\n'));
  assert.match(gitRun.out.join('\n'), /^Name:\s+fromgit$/m);
  assert.equal((await summon(envIo, 'apps:info', '--json')).code, 0, 'SUMMON_APP before the git remote');

  assert.equal((await sh('git', ['remote', 'set-url', 'summon', 'https://github.com/me/fromgit'], { cwd: dir })).code, 0);
  const odd = await summon(io, 'apps:info');
  assert.equal(odd.code, 2);
  assert.match(odd.err.join('\n'), /not a Summon app URL.*summon git:remote -a APP/);

  assert.deepEqual(appPaths(f), ['flag', 'positional', 'fromenv', 'flagwins', 'fromgit', 'fromenv']);
  assert.equal(appFromGitUrl('http://summon:tok@127.0.0.1:7070/git/hello.git'), 'hello');
  assert.equal(appFromGitUrl('http://127.0.0.1:7070/git/hello'), 'hello');
  assert.equal(appFromGitUrl('https://github.com/me/hello.git'), null);
});

test('every command that acts on one app takes the shared -a option and, with none found, exits 2 before any request', async (t) => {
  const f = await fakeApi(t);
  const dir = await tmp(t);
  const io = fakeIo(dir, { SUMMON_API: f.url, SUMMON_TOKEN: TOKEN });
  const commands = [
    ['apps:info'], ['apps:destroy', '--confirm', 'x'], ['releases'], ['releases:info', 'v1'], ['rollback'], ['releases:rollback'], ['config'],
    ['config:set', 'K=V'], ['config:unset', 'K'], ['ps'], ['ps:scale', '1'], ['ps:restart'], ['restart'], ['autoscale', '--min', '1'], ['logs'], ['events'],
    ['images:export', '-o', join(dir, 'img')], ['webhooks'], ['webhooks:add', 'https://h.example.com/'], ['webhooks:remove', 'wh-1'],
    ['webhooks:deliveries'], ['drains'], ['drains:add', 'syslog://10.0.0.1:514'], ['drains:remove', 'drn-1'], ['access'], ['access:add', 'a@example.com'],
    ['access:remove', 'a@example.com'], ['open'], ['git:remote'],
  ];
  for (const c of commands) {
    const r = await summon(io, ...c);
    assert.equal(r.code, 2, `summon ${c.join(' ')}: ${r.err.join('\n')}`);
    assert.match(r.err.join('\n'), /give one with -a APP, or set SUMMON_APP=APP, or run `summon git:remote -a APP`/, `summon ${c.join(' ')}`);
  }
  assert.deepEqual(f.requests, []);
  // One definition: no command file spells out its own -a option (src/cli/app.ts's appOption).
  const { readdirSync, readFileSync, statSync } = await import('node:fs');
  const own: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (n.endsWith('.ts') && readFileSync(p, 'utf8').includes("'-a, --app")) own.push(p.slice(ROOT.length));
    }
  };
  walk(join(ROOT, 'src', 'cli', 'commands'));
  assert.deepEqual(own, []);
});

test('create and releases:rollback are aliases; open prints the URL and runs xdg-open only on a terminal', async (t) => {
  const f = await fakeApi(t);
  const dir = await tmp(t);
  const bin = join(dir, 'bin');
  await sh('mkdir', ['-p', bin]);
  const opened = join(dir, 'opened');
  await writeFile(join(bin, 'xdg-open'), `#!/bin/sh\necho "$@" >> ${opened}\n`);
  await chmod(join(bin, 'xdg-open'), 0o755);
  const env = { SUMMON_API: f.url, SUMMON_TOKEN: TOKEN, PATH: `${bin}:${process.env.PATH}` };

  const io = fakeIo(dir, env);
  const created = await summon(io, 'create', 'hello');
  assert.equal(created.code, 0, created.err.join('\n'));
  assert.deepEqual(JSON.parse(f.requests.at(-1)!.body), { name: 'hello' });
  assert.match(created.out.join('\n'), /summon git:remote -a hello\n\s+git push summon main/);

  const rb = await summon(io, 'releases:rollback', '-a', 'hello', 'v1');
  assert.equal(rb.code, 0, rb.err.join('\n'));
  assert.equal(f.requests.at(-1)!.path, '/api/apps/hello/rollback');
  assert.deepEqual(JSON.parse(f.requests.at(-1)!.body), { version: 1 });
  assert.deepEqual(rb.out, ['rolling back']);

  const piped = await summon(io, 'open', '-a', 'hello');
  assert.equal(piped.code, 0);
  assert.deepEqual(piped.out, ['http://hello.localhost:8080/']);
  const ttyIo = fakeIo(dir, env, { tty: true });
  const onTty = await summon(ttyIo, 'open', '-a', 'hello', '/admin');
  assert.deepEqual(onTty.out, ['http://hello.localhost:8080/admin']);
  const text = await waitFor(async () => readFile(opened, 'utf8').catch(() => ''), { timeoutMs: 10_000, what: 'xdg-open to run' });
  assert.equal(text, 'http://hello.localhost:8080/admin\n', 'xdg-open ran once, for the terminal run only');
  const noOpener = await summon(fakeIo(dir, { ...env, PATH: '/nonexistent' }, { tty: true }), 'open', '-a', 'hello');
  assert.equal(noOpener.code, 0, 'no xdg-open: the URL is printed all the same');
});

test('--json on actions: progress lines go to stderr and stdout is one JSON result; every command offers it but those whose output is a raw value, a script or a session', async (t) => {
  const f = await fakeApi(t);
  const dir = await tmp(t);
  const io = fakeIo(dir, { SUMMON_API: f.url, SUMMON_TOKEN: TOKEN });
  const rb = await summon(io, 'rollback', '-a', 'web', '--json');
  assert.equal(rb.code, 0, rb.err.join('\n'));
  assert.deepEqual(rb.err, ['rolling back']);
  assert.deepEqual(JSON.parse(rb.out.join('\n')), { app: 'web', ok: true });
  const human = await summon(io, 'rollback', '-a', 'web');
  assert.deepEqual(human.out, ['rolling back']);
  assert.deepEqual(human.err, []);

  const program = buildProgram(fakeIo(dir, {}), async () => {});
  // Their output is already the machine-readable form (a token or credential to pipe on, a
  // shell script, an image's bytes, git's credential protocol), or they run for a session.
  const exempt = new Set(['up', 'agent', 'login', 'auth:token', 'hosts:credential', 'images:export', 'auth:git-credential', 'open', 'completion']);
  const without = program.commands.filter((c) => !c.options.some((o) => o.long === '--json')).map((c) => c.name()).filter((n) => !exempt.has(n));
  assert.deepEqual(without, [], 'commands without --json');
});

test('colour only on a terminal and never with NO_COLOR; the error line is red on a terminal', async (t) => {
  const f = await fakeApi(t);
  const dir = await tmp(t);
  const env = { SUMMON_API: f.url, SUMMON_TOKEN: TOKEN };
  const esc = /\x1b\[/;
  const plain = await summon(fakeIo(dir, env), 'apps');
  assert.equal(plain.code, 0);
  assert.doesNotMatch(plain.out.join('\n'), esc);
  const tty = await summon(fakeIo(dir, env, { tty: true }), 'apps');
  assert.match(tty.out.join('\n'), /\x1b\[32mrunning\x1b\[0m/);
  assert.match(tty.out.join('\n'), /\x1b\[31mcrashed\x1b\[0m/);
  // The columns line up as without colour.
  assert.deepEqual(tty.out.join('\n').replace(/\x1b\[\d+m/g, ''), plain.out.join('\n'));
  const noColour = await summon(fakeIo(dir, { ...env, NO_COLOR: '1' }, { tty: true, errTty: true }), 'apps');
  assert.doesNotMatch(noColour.out.join('\n'), esc);
  const err = await summon(fakeIo(dir, env, { errTty: true }), 'apps:info');
  assert.match(err.err[0], /^\x1b\[31merror:\x1b\[0m no app given/);
  const errPlain = await summon(fakeIo(dir, env), 'apps:info');
  assert.match(errPlain.err[0], /^error: no app given/);
});

test('login reads the token from a pipe, or hidden from a terminal; --token still works; a bad token saves nothing', async (t) => {
  const f = await fakeApi(t);
  const dir = await tmp(t);
  const saved = join(dir, 'config', 'summon', 'config.json');

  const piped = await summon(fakeIo(dir, {}, { stdin: Readable.from([`${TOKEN}\n`]) }), 'login', '--api', `${f.url}/`);
  assert.equal(piped.code, 0, piped.err.join('\n'));
  assert.match(piped.out[0], /Logged in to http:\/\/127\.0\.0\.1:\d+ as admin@example\.com/);
  assert.deepEqual(JSON.parse(await readFile(saved, 'utf8')), { api: f.url, token: TOKEN });
  await rm(saved);

  // A terminal: raw mode on while typing (no echo), backspace honoured, Enter ends it.
  const term = Object.assign(new PassThrough(), { isTTY: true, modes: [] as boolean[], setRawMode(raw: boolean) { term.modes.push(raw); return term; } });
  const typing = summon(fakeIo(dir, {}, { stdin: term }), 'login', '--api', f.url);
  await waitFor(() => term.modes.length > 0, { timeoutMs: 5000, what: 'the prompt' });
  term.write(`${TOKEN}x\u007f\r`);
  const typed = await typing;
  assert.equal(typed.code, 0, typed.err.join('\n'));
  assert.match(typed.err.join('\n'), /Token \(input hidden/);
  assert.deepEqual(term.modes, [true, false]);
  assert.equal(JSON.parse(await readFile(saved, 'utf8')).token, TOKEN);

  // The saved API is used when --api is left out; --token keeps working.
  const again = await summon(fakeIo(dir, {}), 'login', '--token', TOKEN);
  assert.equal(again.code, 0, again.err.join('\n'));
  await rm(saved);

  const bad = await summon(fakeIo(dir, {}, { stdin: Readable.from(['wrong\n']) }), 'login', '--api', f.url);
  assert.notEqual(bad.code, 0);
  assert.match(bad.err.join('\n'), /bad token/);
  await assert.rejects(readFile(saved, 'utf8'), /ENOENT/, 'nothing saved');
  const empty = await summon(fakeIo(dir, {}), 'login', '--api', f.url);
  assert.equal(empty.code, 2);
  assert.match(empty.err.join('\n'), /no token given/);
  const noApi = await summon(fakeIo(dir, {}, { stdin: Readable.from([`${TOKEN}\n`]) }), 'login');
  assert.equal(noApi.code, 2);
  assert.match(noApi.err.join('\n'), /give --api URL/);
});

test('git:remote adds, then updates, the summon remote with a credential helper; real git gets the token from it, not from the URL', async (t) => {
  const f = await fakeApi(t);
  const dir = await tmp(t);
  const env = { SUMMON_API: f.url, SUMMON_TOKEN: TOKEN };
  const io = fakeIo(dir, env, { self: [process.execPath, BIN] });
  const outside = await summon(io, 'git:remote', '-a', 'hello');
  assert.equal(outside.code, 2);
  assert.match(outside.err.join('\n'), /not in a git repository/);

  assert.equal((await sh('git', ['init', '-q', dir])).code, 0);
  const added = await summon(io, 'git:remote', '-a', 'hello');
  assert.equal(added.code, 0, added.err.join('\n'));
  assert.match(added.out[0], /^Added git remote summon → http:\/\/127\.0\.0\.1:\d+\/git\/hello\.git$/);
  await sh('git', ['remote', 'set-url', 'summon', 'http://elsewhere.example/x.git'], { cwd: dir });
  const updated = await summon(io, 'git:remote', '-a', 'hello');
  assert.match(updated.out[0], /^Updated git remote summon/);
  const url = (await sh('git', ['config', '--get', 'remote.summon.url'], { cwd: dir })).stdout.trim();
  assert.equal(url, `${f.url}/git/hello.git`);
  assert.ok(!url.includes(TOKEN));
  const helpers = (await sh('git', ['config', '--get-all', `credential.${f.url}.helper`], { cwd: dir })).stdout.split('\n').filter((l, i, a) => i < a.length - 1);
  assert.equal(helpers.length, 2, `one reset and one helper after two runs: ${JSON.stringify(helpers)}`);
  assert.equal(helpers[0], '');
  assert.match(helpers[1], /^!.*summon\.js auth:git-credential$/);

  // With the remote inferred, a later command finds the app by itself.
  assert.match((await summon(io, 'apps:info')).out.join('\n'), /^Name:\s+hello$/m);

  // git's own credential machinery runs the helper (a separate `summon` process).
  const host = new URL(f.url).host;
  const gitEnv = { ...process.env, ...env, GIT_TERMINAL_PROMPT: '0', HOME: dir, GIT_CONFIG_NOSYSTEM: '1' };
  const fill = await sh('git', ['credential', 'fill'], { cwd: dir, env: gitEnv, input: `protocol=http\nhost=${host}\npath=git/hello.git\n\n` });
  assert.equal(fill.code, 0, fill.stderr);
  assert.match(fill.stdout, /^username=summon$/m);
  assert.match(fill.stdout, new RegExp(`^password=${TOKEN}$`, 'm'));

  // The helper answers only for the server of the saved login.
  const other = await summon(fakeIo(dir, env, { stdin: Readable.from(['protocol=http\nhost=evil.example:7070\n\n']) }), 'auth:git-credential', 'get');
  assert.equal(other.code, 0);
  assert.deepEqual(other.out, []);
  const store = await summon(fakeIo(dir, env, { stdin: Readable.from([`protocol=http\nhost=${host}\nusername=summon\npassword=${TOKEN}\n\n`]) }), 'auth:git-credential', 'store');
  assert.deepEqual(store.out, [], 'store is ignored');
});

test('completion prints bash and zsh scripts from the command list; bash completes commands, aliases and options', async (t) => {
  const dir = await tmp(t);
  const io = fakeIo(dir, {});
  const bash = await summon(io, 'completion', 'bash');
  assert.equal(bash.code, 0);
  const script = join(dir, 'summon.bash');
  await writeFile(script, bash.out.join('\n'));
  const complete = async (line: string) => {
    const r = await sh('bash', ['-c', `source ${script}; COMP_LINE=${JSON.stringify(line)}; COMP_POINT=${line.length}; _summon; printf '%s\\n' "\${COMPREPLY[@]}"`]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.split('\n').filter(Boolean).sort();
  };
  assert.deepEqual(await complete('summon apps:in'), ['info'], 'after the colon bash already holds');
  assert.deepEqual(await complete('summon releases:r'), ['rollback']);
  assert.deepEqual(await complete('summon git:'), ['remote']);
  assert.ok((await complete('summon ')).includes('completion'));
  assert.deepEqual(await complete('summon logs --t'), ['--tail']);
  assert.deepEqual(await complete('summon apps:info --'), ['--app', '--help', '--json']);
  const zsh = await summon(io, 'completion', 'zsh');
  assert.equal(zsh.code, 0);
  assert.match(zsh.out[0], /^#compdef summon/);
  assert.match(zsh.out.join('\n'), /'apps\\:info:show an app'/);
  // Real zsh (scripts/setup.sh installs it): the script parses, and with compsys's functions
  // stubbed to print what they are given, _summon offers commands and each command's options.
  const zscript = join(dir, '_summon');
  await writeFile(zscript, zsh.out.join('\n'));
  assert.equal((await sh('zsh', ['-n', zscript])).code, 0);
  const zcomplete = async (words: string[]) => {
    const stubs = 'compdef(){}; _describe(){ print -rl -- ${(P)2} }; compadd(){ shift; print -rl -- "$@" }; _files(){}';
    const r = await sh('zsh', ['-c', `${stubs}; source ${zscript}; words=(${words.map((w) => `'${w}'`).join(' ')}); CURRENT=${words.length}; _summon`]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.split('\n').filter(Boolean);
  };
  assert.ok((await zcomplete(['summon', 'ap'])).includes('apps\\:info:show an app'));
  assert.ok((await zcomplete(['summon', 'logs', '--t'])).includes('--tail'));
  const bad = await summon(io, 'completion', 'fish');
  assert.equal(bad.code, 2);
  assert.match(bad.err.join('\n'), /bash or zsh/);
});

test('logs --tail: one "reconnecting" line per outage however many attempts fail, and no line printed twice', async (t) => {
  const f = await fakeApi(t);
  const dir = await tmp(t);
  const ac = new AbortController();
  const io = fakeIo(dir, { SUMMON_API: f.url, SUMMON_TOKEN: TOKEN }, { signal: ac.signal });
  const line = (seq: number) => ({ seq, at: 1_000 + seq, app: 'web', source: 'app' as const, proc: 'i1', text: `line ${seq}` });
  f.logHistory.push(line(1), line(2));
  const tail = summon(io, 'logs', '-a', 'web', '--tail');
  t.after(() => ac.abort());
  await waitFor(() => io.outLines.length === 2, { timeoutMs: 10_000, what: 'the history' });
  f.down = true;
  f.endStreams();
  const before = f.streamAttempts;
  await waitFor(() => f.streamAttempts >= before + 2, { timeoutMs: 20_000, what: 'two failed reconnection attempts' });
  assert.deepEqual(io.errLines.filter((l) => /reconnecting/.test(l)).length, 1, io.errLines.join('\n'));
  f.logHistory.push(line(3));
  f.down = false;
  await waitFor(() => io.errLines.some((l) => /log stream reconnected/.test(l)), { timeoutMs: 20_000, what: 'the reconnection' });
  const reopened = f.requests.filter((r) => /\/logs\/stream/.test(r.path)).at(-1)!.path;
  assert.match(reopened, /since=\d+s&limit=10000|limit=10000.*since=\d+s|since=\d+s.*limit=10000/, 'the reopened stream asks for everything since the last line');
  f.pushLog(line(4));
  await waitFor(() => io.outLines.length >= 4, { timeoutMs: 10_000, what: 'the new lines' });
  ac.abort();
  assert.equal((await tail).code, 0);
  assert.deepEqual(io.outLines.map((l) => l.replace(/^.* /, '')), ['1', '2', '3', '4']);
  assert.equal(io.errLines.length, 2, io.errLines.join('\n'));
});

test('events --tail resumes after the last event it printed: none missed across an outage, none twice', async (t) => {
  const f = await fakeApi(t);
  const dir = await tmp(t);
  const ac = new AbortController();
  const io = fakeIo(dir, { SUMMON_API: f.url, SUMMON_TOKEN: TOKEN }, { signal: ac.signal });
  const ev = (id: number): SummonEvent => ({ id, app: 'web', type: 'release.live', message: `event ${id}`, data: {}, at: 1_000 * id });
  f.events.push(ev(1), ev(2));
  const tail = summon(io, 'events', '-a', 'web', '--tail');
  t.after(() => ac.abort());
  await waitFor(() => f.requests.some((r) => r.path.startsWith('/api/events/stream')) && f.requests.some((r) => /after=2/.test(r.path)), { timeoutMs: 10_000, what: 'the stream and its catch-up' });
  f.events.push(ev(3));
  f.push(ev(3));
  await waitFor(() => io.outLines.length === 3, { timeoutMs: 10_000, what: 'event 3' });
  // An outage: the stream ends; 4 and 5 happen meanwhile (stored, seen by no stream).
  f.down = true;
  f.endStreams();
  f.events.push(ev(4), ev(5));
  const before = f.streamAttempts;
  await waitFor(() => f.streamAttempts >= before + 1, { timeoutMs: 20_000, what: 'a failed attempt' });
  f.down = false;
  await waitFor(() => io.outLines.length === 5, { timeoutMs: 20_000, what: 'the missed events' });
  assert.ok(f.requests.some((r) => /\/events\?.*after=3/.test(r.path)), 'asked for what came after event 3');
  f.push(ev(5)); // the stream's copy of one already fetched
  f.events.push(ev(6));
  f.push(ev(6));
  await waitFor(() => io.outLines.length >= 6, { timeoutMs: 10_000, what: 'event 6' });
  ac.abort();
  assert.equal((await tail).code, 0);
  assert.deepEqual(io.outLines.map((l) => l.replace(/^.*event /, '')), ['1', '2', '3', '4', '5', '6']);
  assert.deepEqual(io.errLines.map((l) => l.replace(/ \(.*\)/, '')), ['event stream interrupted; reconnecting', 'event stream reconnected']);
});

test('every `summon …` hint in the source names a command, and options, that exist', async () => {
  const { readdirSync, readFileSync, statSync } = await import('node:fs');
  const program = buildProgram(fakeIo(tmpdir(), {}), async () => {});
  const byName = new Map(program.commands.flatMap((c) => [c.name(), ...c.aliases()].map((n) => [n, c] as const)));
  const files: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (n.endsWith('.ts') && !n.endsWith('.test.ts')) files.push(p);
    }
  };
  walk(join(ROOT, 'src'));
  let checked = 0;
  const bad: string[] = [];
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(/`summon ([a-z][a-z:-]*)((?: [^`\n]*)?)\\?`/g)) {
      const [, name, rest] = m;
      if (rest.includes('\\0')) continue; // a signing label (agent/host-credential.ts), not a hint
      const cmd = byName.get(name);
      const where = `${f.slice(ROOT.length)}: summon ${name}${rest}`;
      if (!cmd) {
        bad.push(`${where}: no command ${name}`);
        continue;
      }
      checked++;
      const opts = new Set([...cmd.options.flatMap((o) => [o.long, o.short]), '--help']);
      for (const word of rest.replace(/\$\{[^}]*\}/g, 'X').split(/\s+/)) {
        const flag = /^(--?[a-z][a-z-]*)/.exec(word)?.[1];
        if (flag && !opts.has(flag)) bad.push(`${where}: ${name} has no option ${flag}`);
      }
    }
  }
  assert.deepEqual(bad, []);
  assert.ok(checked > 50, `found ${checked} hints`);
});
