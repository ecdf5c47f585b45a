// [test].smoke through a real Summon: `git push` of hello-node with smoke commands in its
// summon.toml. The commands run against an instance of the new release that takes no traffic
// (every request through the router while they run is answered by the live release), their
// output streams into the push, and the result is in the build manifest. A failing smoke test
// rejects the push with its output, and the live release keeps serving.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'node:test';
import { cli, cliJson, commitAll, editFile, exampleRepo, push, startSummonFor, viaRouter } from './harness.js';
import { waitFor } from '../../src/testing/wait.js';

// GET $SUMMON_TEST_URL/ must say WANT; then a slow request holds the smoke test open for MS.
const SMOKE = `const [want, ms = '0'] = process.argv.slice(2);
const url = process.env.SUMMON_TEST_URL;
const r = await fetch(url + '/');
const text = (await r.text()).trim();
console.log('smoke: GET / -> ' + r.status + ' ' + text);
if (!text.includes(want)) { console.error('smoke: expected ' + JSON.stringify(want)); process.exit(1); }
await (await fetch(url + '/slow?ms=' + ms)).text();
console.log('smoke: ok');
`;

test('smoke tests run against the new release before it takes traffic; a failing one keeps the live release', async (t) => {
  const s = await startSummonFor(t, 'smoke', ['--no-vm']);
  assert.equal((await cli(s, 'apps:create', 'shop')).code, 0);
  const dir = await exampleRepo('hello-node');
  const first = await push(s, dir, 'shop');
  assert.equal(first.code, 0, first.stderr);

  // v2: smoke tests that hold the gate for 3 s while the test asks the router again and again.
  await writeFile(join(dir, 'smoke.mjs'), SMOKE);
  await editFile(dir, 'summon.toml', (x) => `${x}\n[test]\nsmoke = ["node smoke.mjs 'hello-node v2' 3000"]\ntimeout = "1m"\n`);
  await commitAll(dir, 'smoke tests');
  const answers: { at: number; body: string }[] = [];
  let pushing = true;
  const asking = (async () => {
    while (pushing) {
      const r = await viaRouter(s, 'shop');
      answers.push({ at: Date.now(), body: r.body });
    }
  })();
  const second = await push(s, dir, 'shop');
  pushing = false;
  await asking;
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stderr, /-----> Smoke tests against shop-[0-9a-f]+ \(http:\/\/127\.0\.0\.1:\d+, no traffic yet\)/);
  assert.match(second.stderr, /smoke: GET \/ -> 200 hello from hello-node v2/);
  assert.match(second.stderr, /-----> Smoke tests passed \(1, /);
  assert.match(second.stderr, /Released v2/);

  const events = await cliJson(s, 'events', '-a', 'shop', '--json');
  const at = (type: string) => events.find((e: { type: string; data: { version?: number } }) => e.type === type && e.data.version === 2)?.at as number;
  const [started, passed, live] = [at('smoke.started'), at('smoke.passed'), at('release.live')];
  assert.ok(started && passed && live && started <= passed && passed <= live, JSON.stringify({ started, passed, live }));
  const during = answers.filter((a) => a.at > started && a.at < passed);
  assert.ok(during.length > 0, 'the router was asked while the smoke tests ran');
  assert.ok(during.every((a) => /hello-node v1/.test(a.body)), `only v1 answered while v2 was smoke-tested: ${JSON.stringify(during.slice(0, 3))}`);
  const v2 = await cliJson(s, 'releases:info', '-a', 'shop', 'v2', '--json');
  assert.equal(v2.buildManifest.smoke.result, 'passed');
  assert.equal(v2.buildManifest.smoke.steps[0].exitCode, 0);
  assert.match(v2.buildManifest.smoke.steps[0].output, /smoke: ok/);
  assert.ok(v2.buildManifest.smoke.durationMs >= 3000);

  // v3: the smoke test fails. The push is rejected with its output; v2 keeps serving.
  await editFile(dir, 'summon.toml', (x) => x.replace("hello-node v2' 3000", "hello-node v2' 0"));
  await commitAll(dir, 'a smoke test v3 fails');
  const third = await push(s, dir, 'shop');
  assert.notEqual(third.code, 0, 'the push is rejected');
  assert.match(third.stderr, /smoke: expected "hello-node v2"/);
  assert.match(third.stderr, /v3 failed: smoke test failed with exit code 1: node smoke\.mjs 'hello-node v2' 0/);
  assert.match(third.stderr, /v2 keeps serving/);
  const after = await viaRouter(s, 'shop');
  assert.match(after.body, /hello from hello-node v2/);
  const v3 = await cliJson(s, 'releases:info', '-a', 'shop', 'v3', '--json');
  assert.equal(v3.status, 'failed');
  assert.equal(v3.buildManifest.smoke.result, 'failed');
  assert.equal(v3.buildManifest.smoke.steps[0].exitCode, 1);
  assert.match(v3.buildManifest.smoke.steps[0].output, /smoke: GET \/ -> 200 hello from hello-node v3/);
  await waitFor(async () => {
    const ps = await cliJson(s, 'ps', '-a', 'shop', '--json');
    return ps.every((i: { version: number }) => i.version === 2) ? ps : undefined;
  }, { timeoutMs: 15_000, what: 'the v3 instance stopped' });
  const builds = await cliJson(s, 'builds', '-a', 'shop', '--json');
  assert.match(builds.find((b: { version: number }) => b.version === 3).reason, /smoke test failed/);
});
