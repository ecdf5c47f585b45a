// Just-in-time summoning: scale to zero when idle, wake on request (held, not dropped), a
// bounded hold queue, DNS lookups that wake, CPU autoscaling within a hard cap.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Resolver } from 'node:dns/promises';
import { cli, cliJson, editFile, exampleRepo, push, startLoad, startSummonFor, viaRouter, type SummonProcess } from './harness.js';
import { waitFor } from '../../src/testing/wait.js';
import { SummonClient } from '../../src/sdk/client.js';

interface Inst { id: string; state: string; version: number }

test('summoning and autoscaling', async (t) => {
  const s: SummonProcess = await startSummonFor(t, 'summon', ['--dns-port', '0', '--hold-max', '60', '--hold-timeout', '8s', '--scale-in-window', '5s']);
  const ps = async (app: string): Promise<Inst[]> => (await cliJson(s, 'ps', '-a', app, '--json')) as Inst[];
  const idle = (app: string) => waitFor(async () => (await ps(app)).length === 0, { timeoutMs: 20_000, what: `${app} to scale to zero` });
  const deploy = async (app: string, scale: string, extra?: (d: string) => Promise<void>) => {
    assert.equal((await cli(s, 'apps:create', app)).code, 0);
    const repo = await exampleRepo('hello-node', async (d) => {
      await editFile(d, 'summon.toml', (x) => x.replace(/\[scale\][\s\S]*$/, scale));
      await extra?.(d);
    });
    const r = await push(s, repo, app);
    assert.equal(r.code, 0, r.stderr);
  };

  await deploy('sleepy', '[scale]\nmin = 0\nmax = 4\nidle_timeout = "2s"\n');

  await t.test('an idle app goes to zero and a request wakes it (200, not an error)', async () => {
    const before = await ps('sleepy');
    assert.equal(before.length, 1);
    await idle('sleepy');
    const info = (await cliJson(s, 'apps:info', '-a', 'sleepy', '--json'));
    assert.equal(info.state, 'idle');
    assert.match((await cli(s, 'ps', '-a', 'sleepy')).stdout, /idle \(scaled to zero\)/);
    const res = await viaRouter(s, 'sleepy');
    assert.equal(res.status, 200);
    assert.match(res.body, /hello from hello-node v1/);
    assert.ok(!res.body.includes(before[0].id), 'served by a freshly started instance');
    const events = (await cliJson(s, 'events', '-a', 'sleepy', '--json')) as { type: string }[];
    assert.ok(events.some((e) => e.type === 'scale.idle'));
    assert.ok(events.some((e) => e.type === 'app.wake'));
    assert.ok(info.usageSecondsToday >= 0);
  });

  await t.test('50 concurrent requests at zero: all 200, never above max', async () => {
    await idle('sleepy');
    const replies = await Promise.all(Array.from({ length: 50 }, () => viaRouter(s, 'sleepy')));
    assert.deepEqual([...new Set(replies.map((r) => r.status))], [200]);
    assert.ok((await ps('sleepy')).length <= 4);
  });

  await t.test('max is a hard cap for manual scaling too', async () => {
    const r = await cli(s, 'ps:scale', '-a', 'sleepy', '5');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /hard maximum is 4/);
  });

  await t.test('a full hold queue answers 503 with Retry-After; nothing hangs', async () => {
    await deploy('slowboot', '[scale]\nmin = 0\nmax = 2\nidle_timeout = "2s"\n');
    const set = await cli(s, 'config:set', '-a', 'slowboot', 'STARTUP_DELAY_MS=1500');
    assert.equal(set.code, 0, set.stderr);
    await idle('slowboot');
    const replies = await Promise.all(Array.from({ length: 90 }, () => viaRouter(s, 'slowboot', '/', 20_000)));
    const byStatus = new Map<number, number>();
    for (const r of replies) byStatus.set(r.status, (byStatus.get(r.status) ?? 0) + 1);
    assert.equal((byStatus.get(200) ?? 0) + (byStatus.get(503) ?? 0), 90, JSON.stringify([...byStatus]));
    assert.ok((byStatus.get(503) ?? 0) >= 30, `at least 30 of 90 refused with a hold limit of 60: ${JSON.stringify([...byStatus])}`);
    assert.ok((byStatus.get(200) ?? 0) >= 1);
    const refused = replies.find((r) => r.status === 503)!;
    assert.ok(Number(refused.headers['retry-after']) >= 1, 'Retry-After is set');
    assert.match(refused.body, /slowboot/);
  });

  await t.test('a DNS lookup answers the router address and starts the idle app', async () => {
    assert.ok(s.dnsPort);
    await idle('sleepy');
    const r = new Resolver();
    r.setServers([`127.0.0.1:${s.dnsPort}`]);
    assert.deepEqual(await r.resolve4('sleepy.localhost'), ['127.0.0.1']);
    await waitFor(async () => (await ps('sleepy')).length >= 1, { timeoutMs: 10_000, what: 'the lookup to start an instance' });
    await assert.rejects(r.resolve4('nosuchapp.localhost'), /ENOTFOUND/);
  });

  await t.test('CPU load scales out above 1 instance and back to min, never above max', async () => {
    await deploy('busy', '[scale]\nmin = 1\nmax = 3\ntarget_cpu = 0.3\n');
    // The most instances at any time, sampled through the API (not a CLI process every 250 ms,
    // which loaded the machine it measures); the sampler is awaited before the test ends.
    let most = 0;
    let watching = true;
    const api = new SummonClient({ api: s.apiUrl, token: s.token });
    const watcher = (async () => {
      while (watching) {
        most = Math.max(most, (await api.instances('busy')).length);
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    const watched = watcher.catch((e: unknown) => e);
    try {
      const load = startLoad(s, 'busy', { rate: 12, max: 600, path: '/cpu?ms=150', concurrency: 6 });
      await waitFor(async () => (await ps('busy')).filter((i) => i.state === 'healthy').length >= 2, { timeoutMs: 30_000, what: 'a scale-out' });
      await load.stop();
      await waitFor(async () => (await ps('busy')).length === 1, { timeoutMs: 40_000, what: 'a scale-in back to min' });
    } finally {
      watching = false;
      const failed = await watched;
      if (failed) throw failed;
    }
    assert.ok(most >= 2 && most <= 3, `most instances seen: ${most}`);
    const events = (await cliJson(s, 'events', '-a', 'busy', '--json')) as { type: string; message: string; data: Record<string, number> }[];
    const out = events.find((e) => e.type === 'scale.out');
    assert.ok(out, 'the scale-out is an event');
    assert.match(out!.message, /above target 30%/);
    assert.ok(out!.data.avgCpu > 0.3);
    assert.ok(events.some((e) => e.type === 'scale.in'));
  });

  await t.test('summon autoscale sets the policy without a release', async () => {
    const r = await cli(s, 'autoscale', '-a', 'busy', '--min', '0', '--max', '2', '--target-cpu', '70', '--idle-timeout', '30s', '--json');
    assert.equal(r.code, 0, r.stderr);
    const v = JSON.parse(r.stdout);
    assert.deepEqual(v.scale, { min: 0, max: 2, targetCpu: 0.7, idleTimeoutMs: 30_000 });
    assert.equal(v.liveVersion, 1);
    const bad = await cli(s, 'autoscale', '-a', 'busy', '--min', '3', '--max', '2');
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /greater than --max/);
  });
});
