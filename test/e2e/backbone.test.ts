// The backbone: `summon up`, apps:create, a real `git push`, 200 through the router, the
// build manifest, config, logs, bad input, auth, and recovery after kill -9.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { rm } from 'node:fs/promises';
import { cli, cliJson, editFile, exampleRepo, commitAll, push, startSummonProcess, tempDir, viaRouter, type SummonProcess } from './harness.js';
import { waitFor } from '../../src/testing/wait.js';

test('backbone: git push to a live app, bad pushes, auth, restart after kill -9', async (t) => {
  const root = await tempDir('backbone');
  const data = join(root, 'data');
  let s: SummonProcess = await startSummonProcess(data);
  t.after(async () => {
    await s.stop();
    await rm(root, { recursive: true, force: true });
  });

  await t.test('apps:create prints the git remote and refuses bad names', async () => {
    const r = await cli(s, 'apps:create', 'blog');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`${s.apiUrl}/git/blog\\.git`));
    assert.match(r.stdout, /API token as the password/);
    for (const bad of ['Blog', '-x', 'a..b', 'a/b', '9lives', 'x'.repeat(31), 'a--']) {
      const b = await cli(s, 'apps:create', '--', bad);
      assert.notEqual(b.code, 0, `${bad} must be refused`);
      assert.match(b.stderr, /starting with a letter and ending with a letter or digit/);
    }
    const dup = await cli(s, 'apps:create', 'blog');
    assert.notEqual(dup.code, 0);
    assert.match(dup.stderr, /already exists/);
  });

  await t.test('an app with no release answers 503 saying so; an unknown host 404 naming it', async () => {
    const none = await viaRouter(s, 'blog');
    assert.equal(none.status, 503);
    assert.match(none.body, /no release/i);
    const unknown = await viaRouter(s, 'nosuchapp');
    assert.equal(unknown.status, 404);
    assert.match(unknown.body, /nosuchapp\.localhost/);
  });

  const repo = await exampleRepo('hello-node');
  await t.test('git push builds, tests, releases and serves', async () => {
    const r = await push(s, repo, 'blog');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /remote: -----> Building: node build\.mjs/);
    assert.match(r.stderr, /remote: -----> Testing: node test\.mjs/);
    assert.match(r.stderr, /remote: -----> Released v1 … http:\/\/blog\.localhost:\d+/);
    const res = await viaRouter(s, 'blog');
    assert.equal(res.status, 200);
    assert.match(res.body, /hello from hello-node v1/);
  });

  await t.test('releases and releases:info show the build manifest', async () => {
    const list = (await cliJson(s, 'releases', '-a', 'blog', '--json'));
    assert.equal(list.length, 1);
    assert.equal(list[0].status, 'live');
    const info = (await cliJson(s, 'releases:info', '-a', 'blog', 'v1', '--json'));
    const b = info.buildManifest;
    const head = (await (await import('./harness.js')).git(repo, 'rev-parse', 'HEAD')).stdout.trim();
    assert.equal(b.commit, head);
    assert.match(b.tree, /^[0-9a-f]{40}$/);
    assert.match(b.summonTomlSha256, /^[0-9a-f]{64}$/);
    assert.equal(b.build.command, 'node build.mjs');
    assert.equal(b.build.test, 'node test.mjs');
    assert.match(b.platform.os, /linux/i);
    assert.equal(b.platform.arch, process.arch);
    assert.equal(b.toolchain[0].command, 'node --version');
    assert.equal(b.toolchain[0].output.trim(), process.version);
    assert.ok(b.lockfiles.some((l: { path: string; sha256: string }) => l.path === 'package-lock.json' && /^[0-9a-f]{64}$/.test(l.sha256)));
    assert.equal(b.artifact.sha256, info.artifactSha256);
    assert.ok(b.artifact.size > 0);
    assert.ok(b.finishedAt >= b.startedAt);
    const text = await cli(s, 'releases:info', '-a', 'blog', 'v1');
    assert.match(text.stdout, /Lockfile:\s+package-lock\.json sha256:/);
  });

  await t.test('ps, logs and apps:info', async () => {
    const ps = (await cliJson(s, 'ps', '-a', 'blog', '--json'));
    assert.equal(ps.length, 1);
    assert.equal(ps[0].state, 'healthy');
    assert.ok(ps[0].pid > 0 && ps[0].port > 0);
    await viaRouter(s, 'blog', '/?from-the-test');
    await waitFor(async () => (await cli(s, 'logs', '-a', 'blog')).stdout.includes('GET /?from-the-test 200'), { timeoutMs: 5000, what: 'the request in the app log' });
    const info = (await cliJson(s, 'apps:info', '-a', 'blog', '--json'));
    assert.equal(info.url, `http://blog.localhost:${s.routerPort}`);
    assert.equal(info.liveVersion, 1);
  });

  await t.test('config:set makes a release whose instances see the var; config lists it', async () => {
    const r = await cli(s, 'config:set', '-a', 'blog', 'GREETING=hi there', 'MAILGUN_KEY=secret');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /released v2/);
    const c = (await cliJson(s, 'config', '-a', 'blog', '--json'));
    assert.deepEqual(c, { GREETING: 'hi there', MAILGUN_KEY: 'secret' });
    const ps = (await cliJson(s, 'ps', '-a', 'blog', '--json'));
    assert.ok(ps.every((i: { version: number }) => i.version === 2));
    const env = (await import('node:fs/promises')).readFile(`/proc/${ps[0].pid}/environ`, 'utf8');
    assert.match(await env, /GREETING=hi there/);
    const unset = await cli(s, 'config:unset', '-a', 'blog', 'GREETING');
    assert.equal(unset.code, 0, unset.stderr);
    assert.deepEqual((await cliJson(s, 'config', '-a', 'blog', '--json')), { MAILGUN_KEY: 'secret' });
  });

  await t.test('broken pushes are rejected with the reason and the live release keeps serving', async () => {
    const cases: [string, (dir: string) => Promise<void>, RegExp][] = [
      ['failing build', (d) => editFile(d, 'summon.toml', (x) => x.replace('command   = "node build.mjs"', 'command   = "echo compiling; exit 3"')), /exit(ed with)? (code )?3/],
      ['failing test', (d) => editFile(d, 'summon.toml', (x) => x.replace('test      = "node test.mjs"', 'test      = "echo assertion failed >&2; exit 1"')), /assertion failed/],
      ['invalid summon.toml', (d) => editFile(d, 'summon.toml', (x) => `${x}\n[scale]\nmax = "lots"\n`.replace('[scale]\nmin = 1', '[scaling]\nmin = 1')), /summon\.toml: /],
      ['artifact outside the checkout', (d) => editFile(d, 'summon.toml', (x) => x.replace('artifact  = "dist/server.mjs"', 'artifact  = "../../etc/passwd"')), /inside the checkout/],
    ];
    const h = await import('./harness.js');
    for (const [what, edit, reason] of cases) {
      // A new commit on top of the live one, as a developer would push it.
      await edit(repo);
      await commitAll(repo, what);
      const r = await push(s, repo, 'blog');
      await h.git(repo, 'reset', '-q', '--hard', 'HEAD~1');
      assert.notEqual(r.code, 0, `${what}: git push must fail`);
      assert.match(r.stderr, reason, `${what}: the reason is shown`);
      assert.match(r.stderr, /keeps serving/, what);
      const res = await viaRouter(s, 'blog');
      assert.equal(res.status, 200, `${what}: the live release still answers`);
    }
    const ls = await (await import('./harness.js')).git(repo, 'ls-remote', `${s.apiUrl.replace('http://', 'http://x:' + s.token + '@')}/git/blog.git`);
    assert.match(ls.stdout, /refs\/heads\/main/);
  });

  await t.test('every build is kept with its log: a failed push can be read after the fact', async () => {
    type Build = { version: number; status: string; reason: string | null; durationMs: number | null; log: string; commit: string | null };
    const builds = (await cliJson(s, 'builds', '-a', 'blog', '--json')) as Build[];
    // Newest first: the four broken pushes above, each failed with its reason, then the good ones.
    const failed = builds.slice(0, 4);
    assert.deepEqual(failed.map((b) => b.status), ['failed', 'failed', 'failed', 'failed'], JSON.stringify(builds));
    assert.ok(builds.some((b) => b.status === 'succeeded' && (b.durationMs ?? 0) > 0), 'a good push is a succeeded build with its duration');
    const compile = failed[3];
    const info = (await cliJson(s, 'builds:info', '-a', 'blog', `v${compile.version}`, '--json')) as Build;
    // What the pusher saw, then the reason, in the log kept for it.
    assert.match(info.log, /compiling/);
    assert.match(info.log, /exit(ed with)? (code )?3/);
    assert.match(info.log, /^error: v\d+ was not released: build command failed[\s\S]*keeps serving/m);
    assert.equal(info.commit?.length, 40);
    const human = await cli(s, 'builds:info', '-a', 'blog', `v${compile.version}`);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, new RegExp(`Build v${compile.version}  failed`));
    const none = await cli(s, 'builds:info', '-a', 'blog', 'v999');
    assert.equal(none.code, 5, 'no such build: not found');
    assert.match(none.stderr, /summon builds -a blog/);
  });

  await t.test('releases:verify rebuilds a release from its manifest: reproducible, or what differs', async () => {
    type Rel = { version: number; status: string; verification: { result: string; differences: string[] } | null };
    const live = ((await cliJson(s, 'releases', '-a', 'blog', '--json')) as Rel[]).find((r) => r.status === 'live')!;
    const same = await cli(s, 'releases:verify', '-a', 'blog', `v${live.version}`);
    assert.equal(same.code, 0, same.stderr);
    assert.match(same.stdout, /Rebuilding v\d+ of blog from [0-9a-f]{7}/);
    assert.match(same.stdout, new RegExp(`v${live.version} is reproducible: the rebuild made the same bytes`));
    // A build that embeds the time of day cannot be reproduced, and the verdict says where.
    await editFile(repo, 'summon.toml', (x) => x.replace('command   = "node build.mjs"', `command   = 'node build.mjs && sed -i "2i // built at $(date +%s%N)" dist/server.mjs'`));
    await commitAll(repo, 'stamp the build time');
    const r = await push(s, repo, 'blog');
    assert.equal(r.code, 0, r.stderr);
    const stamped = ((await cliJson(s, 'releases', '-a', 'blog', '--json')) as Rel[]).find((x) => x.status === 'live')!;
    const differs = await cli(s, 'releases:verify', '-a', 'blog', `v${stamped.version}`);
    assert.equal(differs.code, 6, `a release that differs from its rebuild exits 6: ${differs.stdout}${differs.stderr}`);
    assert.match(differs.stderr, new RegExp(`v${stamped.version} differs from its rebuild`));
    assert.match(differs.stderr, /artifact dist\/server\.mjs: sha256 [0-9a-f]{12}… then, [0-9a-f]{12}… now; (\d+) bytes then, \1 now; first difference at byte (\d+)/);
    const info = (await cliJson(s, 'releases:info', '-a', 'blog', `v${stamped.version}`, '--json')) as Rel;
    assert.equal(info.verification?.result, 'differs');
    assert.equal(((await cliJson(s, 'releases:info', '-a', 'blog', `v${live.version}`, '--json')) as Rel).verification?.result, 'reproducible');
    const none = await cli(s, 'releases:verify', '-a', 'blog', 'v999');
    assert.equal(none.code, 5, none.stderr);
  });

  await t.test('no token, no entry: API and git answer 401', async () => {
    const api = await fetch(`${s.apiUrl}/api/apps`);
    assert.equal(api.status, 401);
    const wrong = await fetch(`${s.apiUrl}/api/apps`, { headers: { authorization: 'Bearer nope' } });
    assert.equal(wrong.status, 401);
    const gitRes = await fetch(`${s.apiUrl}/git/blog.git/info/refs?service=git-receive-pack`);
    assert.equal(gitRes.status, 401);
    const r = await push({ apiUrl: s.apiUrl, token: 'wrong-token' }, repo, 'blog');
    assert.notEqual(r.code, 0);
  });

  await t.test('request bodies are checked by schema: wrong types and unknown fields are refused, naming them', async () => {
    const call = async (method: string, path: string, body: unknown) => {
      const res = await fetch(`${s.apiUrl}${path}`, { method, headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: res.status, message: ((await res.json()) as { error?: { message?: string } }).error?.message ?? '' };
    };
    // Measured on main: {"name":["hello"]} created "hello", and {"count":[3]} scaled to 3.
    const name = await call('POST', '/api/apps', { name: ['hello'] });
    assert.deepEqual([name.status, /name: Invalid input: expected string, received array/.test(name.message)], [400, true], name.message);
    assert.equal((await cliJson(s, 'apps', '--json')).some((a: { name: string }) => a.name === 'hello'), false, 'nothing was created');
    const count = await call('POST', '/api/apps/blog/scale', { count: [3] });
    assert.deepEqual([count.status, /scale: count: Invalid input: expected number, received array/.test(count.message)], [400, true], count.message);
    const extra = await call('POST', '/api/apps/blog/scale', { count: 1, force: true });
    assert.deepEqual([extra.status, /unknown field "force"/.test(extra.message)], [400, true], extra.message);
    const cfg = await call('PATCH', '/api/apps/blog/config', { set: { KEY: 42 } });
    assert.deepEqual([cfg.status, /config: set\.KEY: config values must be strings/.test(cfg.message)], [400, true], cfg.message);
    const rb = await call('POST', '/api/apps/blog/rollback', { version: 'latest' });
    assert.deepEqual([rb.status, /write the version as vN or N/.test(rb.message)], [400, true], rb.message);
  });

  await t.test('login saves the API and token for later commands; a wrong token is refused', async () => {
    const env = { ...s.env, XDG_CONFIG_HOME: join(root, 'other-config') };
    const before = await cli({ env }, 'apps');
    assert.notEqual(before.code, 0);
    assert.match(before.stderr, /not logged in/);
    const wrong = await cli({ env }, 'login', '--api', s.apiUrl, '--token', 'sk_wrong');
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /token/);
    const ok = await cli({ env }, 'login', '--api', s.apiUrl, '--token', s.token);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match((await cli({ env }, 'apps')).stdout, /blog/);
    assert.equal((await cli({ env }, 'auth:token')).stdout.trim(), s.token);
    const viaEnv = await cli({ env: { ...env, SUMMON_TOKEN: 'sk_override' } }, 'apps');
    assert.notEqual(viaEnv.code, 0, 'SUMMON_TOKEN overrides the saved token');
  });

  await t.test('after kill -9, a restart brings every app back to its live release and scale', async () => {
    const scale = await cli(s, 'ps:scale', '-a', 'blog', '2');
    assert.equal(scale.code, 0, scale.stderr);
    await waitFor(async () => (await cliJson(s, 'ps', '-a', 'blog', '--json')).filter((i: { state: string }) => i.state === 'healthy').length === 2, { timeoutMs: 10_000, what: '2 healthy instances' });
    const live = (await cliJson(s, 'apps:info', '-a', 'blog', '--json')).liveVersion as number;
    await s.kill9();
    s = await startSummonProcess(data);
    const res = await waitFor(async () => {
      const r = await viaRouter(s, 'blog');
      return r.status === 200 ? r : undefined;
    }, { timeoutMs: 15_000, what: 'the app to serve again after restart' });
    assert.match(res.body, new RegExp(`hello-node v${live} `));
    await waitFor(async () => (await cliJson(s, 'ps', '-a', 'blog', '--json')).filter((i: { state: string }) => i.state === 'healthy').length === 2, { timeoutMs: 10_000, what: 'scale 2 restored' });
    const info = (await cliJson(s, 'apps:info', '-a', 'blog', '--json'));
    assert.equal(info.liveVersion, live);
    assert.equal(info.desiredCount, 2);
  });

  await t.test('apps:destroy needs the name confirmed, then stops instances and removes data', async () => {
    const no = await cli(s, 'apps:destroy', 'blog');
    assert.notEqual(no.code, 0);
    assert.match(no.stderr, /--confirm blog/);
    const ps = (await cliJson(s, 'ps', '-a', 'blog', '--json')) as { pid: number }[];
    const yes = await cli(s, 'apps:destroy', 'blog', '--confirm', 'blog');
    assert.equal(yes.code, 0, yes.stderr);
    await waitFor(() => ps.every((i) => { try { process.kill(i.pid, 0); return false; } catch { return true; } }), { timeoutMs: 15_000, what: 'instances to stop' });
    assert.equal((await viaRouter(s, 'blog')).status, 404);
    const gone = await cli(s, 'apps:info', '-a', 'blog');
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /not found/);
  });

  await t.test('SIGTERM stops Summon cleanly', async () => {
    assert.equal(await s.stop(), 0);
    // stdout alone: Summon's own log lines (stderr) come in between.
    // The harness starts Summon with --stop-apps-on-exit, so its apps go with it.
    assert.match(s.stdout(), /SIGTERM: stopping…\s+Stopped\. Every app's instances and the router were stopped too \(--stop-apps-on-exit\)\./);
  });
});
