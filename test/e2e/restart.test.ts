// Restarting (and upgrading) `summon up` takes no app down: under a load generator, Summon is
// stopped with SIGTERM and started again on the same data directory — the second time from a
// different build of Summon — and not one request fails; the instances are adopted (same ids
// and pids), the data plane is adopted (same port, same process), the charts keep their
// history, and a request for an app at zero sent while Summon is away is held and answered
// once it is back. `--stop-apps-on-exit` then stops everything.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import {
  assertNoFailures, cli, cliJson, editFile, exampleRepo, push, ROOT, startLoad, startSummonProcess, tempDir, viaRouter,
  type Reply, type SummonProcess,
} from './harness.js';
import { scaled, waitFor } from '../../src/testing/wait.js';
import { pidAlive } from '../../src/testing/pids.js';

interface Inst { id: string; state: string; pid: number | null; port: number | null }

function refuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(port, '127.0.0.1');
    c.once('connect', () => {
      c.destroy();
      resolve(false);
    });
    c.once('error', () => resolve(true));
  });
}

/** A second build of Summon: this one's files with another version string, as an upgrade
 *  would bring. */
async function otherBuild(dir: string): Promise<string> {
  await mkdir(join(dir, 'bin'), { recursive: true });
  await cp(join(ROOT, 'bin', 'summon.js'), join(dir, 'bin', 'summon.js'));
  await cp(join(ROOT, 'dist'), join(dir, 'dist'), { recursive: true });
  await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  // Summon's version is package.json's (src/core/version.ts): the copy's says it is another one.
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  await writeFile(join(dir, 'package.json'), JSON.stringify({ ...pkg, version: `${pkg.version}+next` }, null, 2));
  return join(dir, 'bin', 'summon.js');
}

test('stopping and starting summon up under load: zero failed requests, instances and data plane adopted, charts kept', async (t) => {
  const root = await tempDir('restart');
  const data = join(root, 'data');
  // The same settings every time (a data plane is adopted only by a Summon with its settings).
  const flags = ['--no-vm', '--hold-timeout', '20s'];
  let s: SummonProcess = await startSummonProcess(data, flags, undefined, { keepApps: true });
  t.after(async () => {
    await s.stop();
    // Whatever is still running from this data directory is adopted and stopped.
    const last = await startSummonProcess(data, flags);
    await last.stop();
    await rm(root, { recursive: true, force: true });
  });
  const ps = async (app: string): Promise<Inst[]> => (await cliJson(s, 'ps', '-a', app, '--json')) as Inst[];
  const deploy = async (app: string, scale: string) => {
    assert.equal((await cli(s, 'apps:create', app)).code, 0);
    const repo = await exampleRepo('hello-node', (d) => editFile(d, 'summon.toml', (x) => x.replace('interval = "1s"', 'interval = "250ms"').replace(/\[scale\][\s\S]*$/, scale)));
    const r = await push(s, repo, app);
    assert.equal(r.code, 0, r.stderr);
  };
  await deploy('web', '[scale]\nmin = 2\nmax = 4\n');
  await deploy('sleepy', '[scale]\nmin = 0\nmax = 2\nidle_timeout = "1s"\n');
  const before = await waitFor(async () => {
    const l = await ps('web');
    return l.length === 2 && l.every((i) => i.state === 'healthy') ? l : undefined;
  }, { timeoutMs: 20_000, what: 'two healthy web instances' });
  await waitFor(async () => (await ps('sleepy')).length === 0, { timeoutMs: 20_000, what: 'sleepy to scale to zero' });
  const routerPort = s.routerPort;
  const build2 = await otherBuild(join(root, 'build2'));

  const load = startLoad(s, 'web', { rate: 150, max: 40_000 });
  await waitFor(() => load.completed() >= 100, { timeoutMs: 20_000, what: 'the load to run' });
  const chartsBefore = await waitFor(async () => {
    const points = await metricsOf(s, 'web');
    return points.length >= 1 ? points : undefined;
  }, { timeoutMs: 20_000, what: 'a chart point before the restart' });

  let held: Promise<Reply> | undefined;
  for (const [round, bin] of [[1, undefined], [2, build2]] as const) {
    const code = await s.stop();
    assert.equal(code, 0, s.output());
    assert.match(s.stdout(), /Stopped\. Apps keep running; the next `summon up` on this data directory adopts them/);
    // Summon is away: web is still served (the load goes on), and a request for sleepy (at
    // zero) is held, not refused and not hung, until a Summon is back to wake it.
    const during = load.completed();
    await waitFor(() => load.completed() >= during + 50, { timeoutMs: 10_000, what: `requests served while Summon is stopped (round ${round})` });
    if (round === 1) held = viaRouter({ routerPort }, 'sleepy', '/', scaled(30_000));
    s = await startSummonProcess(data, flags, undefined, { keepApps: true, ...(bin ? { bin } : {}) });
    assert.equal(s.routerPort, routerPort, 'the same router port');
    assert.match(s.stderr(), /adopted the running data plane/);
    if (bin) assert.match(s.stderr(), /"version":"[^"]+\+next"/, 'the second start is the other build');
    const after = await waitFor(async () => {
      const l = await ps('web');
      return l.length === 2 && l.every((i) => i.state === 'healthy') ? l : undefined;
    }, { timeoutMs: 20_000, what: `web healthy again (round ${round})` });
    assert.deepEqual(after.map((i) => `${i.id}:${i.pid}:${i.port}`).sort(), before.map((i) => `${i.id}:${i.pid}:${i.port}`).sort(), 'the same instances: adopted, not restarted');
    for (const i of after) assert.ok(pidAlive(i.pid!));
    if (round === 1) {
      const r = await held!;
      assert.equal(r.status, 200, `the request held while Summon was away: ${r.status} ${r.body}`);
      assert.match(r.body, /hello from hello-node v1/);
    }
  }
  const mark = load.completed();
  await waitFor(() => load.completed() >= mark + 100, { timeoutMs: 20_000, what: 'load after the restarts' });
  const sum = await load.stop();
  assertNoFailures(sum);
  assert.ok(sum.sent >= 300, `${sum.sent} requests`);

  const chartsAfter = await metricsOf(s, 'web');
  assert.ok(chartsAfter.some((p) => p.at === chartsBefore[0].at), 'the points from before the restarts are still there');

  // The explicit way to stop everything: instances and data plane go.
  await s.stop();
  s = await startSummonProcess(data, flags);
  const pids = (await ps('web')).map((i) => i.pid!);
  assert.equal(await s.stop(), 0);
  assert.match(s.stdout(), /Stopped\. Every app's instances and the router were stopped too \(--stop-apps-on-exit\)\./);
  await waitFor(() => pids.every((p) => !pidAlive(p)), { timeoutMs: 10_000, what: 'the instances to be gone' });
  await waitFor(() => refuses(routerPort), { timeoutMs: 10_000, what: 'the data plane to be gone' });
});

async function metricsOf(s: SummonProcess, app: string): Promise<{ at: number }[]> {
  const res = await fetch(`${s.apiUrl}/api/apps/${app}/metrics`, { headers: { authorization: `Bearer ${s.token}` } });
  assert.equal(res.status, 200);
  return (await res.json()) as { at: number }[];
}
