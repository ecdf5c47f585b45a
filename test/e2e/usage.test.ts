// Per-second economics end to end: a real `summon up` with a price, an app running for some
// seconds, `summon usage --json` showing its instance-seconds growing, memory-seconds as its
// [run].memory reservation × those seconds, and the cost; rightsizing advice in apps:info;
// bad input refused with the reason and exit 2.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { test } from 'node:test';
import { waitFor } from '../../src/testing/wait.js';
import { cli, cliJson, editFile, exampleRepo, push, startSummonFor, tempDir } from './harness.js';

const PRICE = 0.001;

test('summon usage --json: instance-seconds grow while the app runs, memory-seconds are its reservation × them, the cost is at the price', async (t) => {
  const s = await startSummonFor(t, 'usage', ['--price-per-instance-second', String(PRICE)]);
  assert.equal((await cli(s, 'apps:create', 'web')).code, 0);
  const repo = await exampleRepo('hello-node', (dir) => editFile(dir, 'summon.toml', (x) => x.replace('[run]\n', '[run]\nmemory = "64M"\n')));
  const r = await push(s, repo, 'web');
  assert.equal(r.code, 0, `git push failed:\n${r.stdout}\n${r.stderr}`);

  const usage = async () => {
    const u = await cliJson(s, 'usage', '-a', 'web', '--json');
    return { u, day: (u.days as { instanceSeconds: number; memoryMibSeconds: number; cost: number }[]).at(-1) };
  };
  let first = 0;
  await waitFor(async () => {
    first = (await usage()).day?.instanceSeconds ?? 0;
    return first > 0;
  }, { timeoutMs: 30_000, what: 'some instance-seconds metered' });
  const seen: { last?: Awaited<ReturnType<typeof usage>> } = {};
  await waitFor(async () => {
    seen.last = await usage();
    return (seen.last.day?.instanceSeconds ?? 0) >= first + 2;
  }, { timeoutMs: 30_000, what: `instance-seconds to grow past ${first} + 2` });
  const { u, day } = seen.last!;
  assert.equal(u.pricePerInstanceSecond, PRICE);
  assert.equal(u.days.length, 1, 'one app, one day');
  assert.equal(u.days[0].app, 'web');
  assert.ok(Math.abs(day!.memoryMibSeconds - day!.instanceSeconds * 64) < 0.01, `memory-seconds ${day!.memoryMibSeconds} = 64 MiB × ${day!.instanceSeconds} s`);
  assert.ok(Math.abs(day!.cost - day!.instanceSeconds * PRICE) < 1e-5, `cost ${day!.cost} = ${day!.instanceSeconds} × ${PRICE}`);
  assert.deepEqual(u.totals.map((x: { app: string }) => x.app), ['web']);

  // The table, with the cost and what memory-seconds are.
  const table = await cli(s, 'usage', '--since', '7d');
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /APP\s+DAY\s+INSTANCE-SECONDS\s+MEMORY MIB·S\s+COST/);
  assert.match(table.stdout, /web\s+total\s+/);
  assert.match(table.stdout, /\[run\]\.memory reservation × its seconds/);

  // Rightsizing in apps:info: a minute of observations is less than the hour advice needs, and it says so.
  const info = await cli(s, 'apps:info', '-a', 'web');
  assert.equal(info.code, 0, info.stderr);
  assert.match(info.stdout, /Rightsizing:\s+not enough observed yet: \d+(s|min) of the 1h needed/);
  const { advice } = await cliJson(s, 'apps:info', '-a', 'web', '--json');
  assert.ok(advice.observed.samples > 0, 'observations of the running instance');
  assert.equal(advice.current.memoryBytes, 64 * 2 ** 20);
  assert.deepEqual(advice.items, []);

  // Bad input: refused before any request, saying what was wrong, exit 2.
  const bad = await cli(s, 'usage', '--since', 'abc');
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /--since must be a time back from now like 30d, 12h or 90m \(1m to 3650d\), got "abc"/);
  const none = await cli(s, 'usage', '-a', 'nope', '--json');
  assert.equal(none.code, 5, none.stderr);
  assert.match(none.stderr, /app "nope" not found/);
});

test('summon up refuses a negative price per instance-second at start, saying so', async (t) => {
  const dir = await tempDir('usage-price');
  t.after(() => rm(dir, { recursive: true, force: true }));
  const env = { ...process.env, XDG_CONFIG_HOME: dir };
  const neg = await cli({ env }, 'up', '--data', dir, '--api-port', '0', '--router-port', '0', '--price-per-instance-second', '-0.5');
  assert.equal(neg.code, 2, neg.stderr);
  assert.match(neg.stderr, /--price-per-instance-second must be a number from 0 to 1000 \(e\.g\. 0\.000012\), got "-0\.5"/);
  const r = await cli({ env }, 'up', '--data', dir, '--api-port', '0', '--router-port', '0', '--price-per-instance-second', 'abc');
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /--price-per-instance-second must be a number/);
});
