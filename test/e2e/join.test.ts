// A host that joins by dialing out. The second host is a network namespace of the test's own,
// joined to this one by a veth pair, whose firewall (nftables, in the namespace) drops every
// connection that does not start inside it: the control plane cannot reach it at all. Its
// agent joins with `summon hosts:join-token`'s command, holds its link open over the control
// plane's pinned TLS, and serves an instance the router reaches through that link; the join
// token works once and expires; `hosts:drain` moves the instance off it under load with no
// failed request; `hosts:remove` revokes its credential and stops it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { assertNoFailures, BIN, cli, cliJson, editFile, commitAll, exampleRepo, push, startLoad, startSummonProcess, tempDir, viaRouter, type SummonProcess } from './harness.js';
import { freePort, scaled, waitFor } from '../../src/testing/wait.js';

interface Inst { id: string; host: string; state: string; address: string; port: number }
interface HostRow { id: string; link: string; joined?: boolean; labels?: Record<string, string>; draining?: boolean; memoryBytes?: number | null; instances: number }

function sh(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, (e, out, err) => (e ? reject(new Error(`${cmd} ${args.join(' ')}: ${err || e.message}`)) : resolve(out)));
  });
}

async function usable(): Promise<string | false> {
  if (process.getuid?.() !== 0) return 'needs root to make a network namespace';
  try {
    await sh('ip', ['netns', 'list']);
    await sh('nft', ['--version']);
    return false;
  } catch (e) {
    return `ip netns or nft does not work here (scripts/setup.sh installs nftables): ${(e as Error).message}`;
  }
}

const why = await usable();

test('a host joins by dialing out from behind a firewall, serves, drains with no failed request, and is removed', { skip: why || false }, async (t) => {
  const tag = randomBytes(3).toString('hex');
  const ns = `summon-jn-${tag}`;
  const [vethHost, vethNs] = [`vjn${tag}a`, `vjn${tag}b`];
  const net24 = `10.234.${parseInt(tag.slice(0, 2), 16)}`;
  const [hostAddr, nsAddr] = [`${net24}.1`, `${net24}.2`];
  const root = await tempDir('join');
  const agents: ChildProcess[] = [];
  let s: SummonProcess | undefined;
  t.after(async () => {
    for (const a of agents) {
      if (a.exitCode === null && a.signalCode === null) {
        a.kill('SIGTERM');
        await new Promise((r) => a.once('exit', r));
      }
    }
    await s?.stop();
    await sh('ip', ['netns', 'del', ns]).catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  });

  await sh('ip', ['netns', 'add', ns]);
  await sh('ip', ['link', 'add', vethHost, 'type', 'veth', 'peer', 'name', vethNs]);
  await sh('ip', ['link', 'set', vethNs, 'netns', ns]);
  await sh('ip', ['addr', 'add', `${hostAddr}/30`, 'dev', vethHost]);
  await sh('ip', ['link', 'set', vethHost, 'up']);
  const inNs = (...args: string[]) => sh('ip', ['netns', 'exec', ns, ...args]);
  await inNs('ip', 'addr', 'add', `${nsAddr}/30`, 'dev', vethNs);
  await inNs('ip', 'link', 'set', vethNs, 'up');
  await inNs('ip', 'link', 'set', 'lo', 'up');
  // Nothing gets in that the namespace did not start: no inbound route to this host.
  await new Promise<void>((resolve, reject) => {
    const p = spawn('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (c) => (err += c));
    p.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`nft: ${err}`))));
    p.stdin.end('table inet summon_test {\n  chain input {\n    type filter hook input priority 0; policy drop;\n    iif "lo" accept\n    ct state established,related accept\n  }\n}\n');
  });

  const apiPort = await freePort();
  s = await startSummonProcess(join(root, 'control'), ['--host', '0.0.0.0', '--api-port', String(apiPort), '--no-vm', '--host-lost-after', '2s']);
  const control = `https://${hostAddr}:${apiPort}`;
  const hosts = async (): Promise<HostRow[]> => (await cliJson(s!, 'hosts', '--json')) as HostRow[];

  const startAgent = (id: string, args: string[]): { proc: ChildProcess; out: () => string; exited: Promise<number> } => {
    // nsenter --net, not `ip netns exec` (which remounts /sys and hides the cgroups the agent confines with).
    const proc = spawn('nsenter', [`--net=/run/netns/${ns}`, process.execPath, BIN, 'agent', '--id', id, '--no-vm', '--data', join(root, id), ...args],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    agents.push(proc);
    let out = '';
    proc.stdout!.on('data', (c) => (out += c));
    proc.stderr!.on('data', (c) => (out += c));
    const exited = new Promise<number>((r) => proc.once('exit', (code) => r(code ?? -1)));
    return { proc, out: () => out, exited };
  };

  let token = '';
  let command = '';
  await t.test('the control plane cannot reach into the namespace', async () => {
    // A listener inside it, dialed from here: dropped (it times out, nothing answers).
    const listener = spawn('nsenter', [`--net=/run/netns/${ns}`, process.execPath, '-e',
      `require('net').createServer((c) => c.end('in')).listen(7999, '${nsAddr}', () => console.log('listening'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    agents.push(listener);
    await new Promise((r) => listener.stdout!.once('data', r));
    const reached = await new Promise<boolean>((resolve) => {
      const c = net.connect({ host: nsAddr, port: 7999 });
      c.setTimeout(scaled(1500), () => { c.destroy(); resolve(false); });
      c.once('connect', () => { c.destroy(); resolve(true); });
      c.once('error', () => resolve(false));
    });
    listener.kill('SIGTERM');
    assert.equal(reached, false, 'a connection into the namespace got through');
  });

  await t.test('hosts:join-token prints a one-line join command pinning the control plane\'s certificate', async () => {
    const r = await cliJson(s!, 'hosts:join-token', '--label', 'region=edge-1', '--url', control, '--expires', '10m', '--json') as { command: string; token: string; url: string; fingerprint: string; labels: Record<string, string>; expiresAt: number };
    assert.match(r.command, /^summon agent --join 'https:\/\/[\d.]+:\d+#sha256=([0-9A-F]{2}:){31}[0-9A-F]{2}' --token jt_[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(r.labels, { 'region': 'edge-1' });
    assert.ok(r.expiresAt > Date.now() + 9 * 60_000);
    token = r.token;
    command = r.command;
    const human = await cli(s!, 'hosts:join-token', '--url', control);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout.trim(), /^summon agent --join '.*' --token jt_\S+$/);
    assert.match(human.stderr, /joins one host, until/);
    const bad = await cli(s!, 'hosts:join-token', '--label', 'Region=x');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /label key "Region"/);
  });

  let edge!: ReturnType<typeof startAgent>;
  await t.test('the agent joins by dialing out: hosts shows it connected, joined, with its labels', async () => {
    const url = /--join '([^']+)'/.exec(command)![1];
    edge = startAgent('edge', ['--join', url, '--token', token]);
    const row = await waitFor(async () => (await hosts()).find((h) => h.id === 'edge' && h.link === 'connected'),
      { timeoutMs: 30_000, what: `the edge host connected (agent output: ${edge.out()})` });
    assert.equal(row.joined, true);
    assert.equal(row.labels?.region, 'edge-1');
    assert.equal(row.labels?.arch, 'x86_64');
    assert.ok((row.memoryBytes ?? 0) > 0);
    assert.match(edge.out(), /Agent edge joined https:\/\//);
  });

  await t.test('a join token works once: a second host with it is refused, saying so', async () => {
    const url = /--join '([^']+)'/.exec(command)![1];
    const again = startAgent('edge2', ['--join', url, '--token', token]);
    assert.equal(await again.exited, 4, again.out());
    assert.match(again.out(), /join token was used already \(by host edge at /);
    assert.equal((await hosts()).some((h) => h.id === 'edge2'), false);
  });

  await t.test('an expired join token is refused, saying when it expired', async () => {
    const r = await cliJson(s!, 'hosts:join-token', '--url', control, '--expires', '1s', '--json') as { token: string; url: string; expiresAt: number };
    await waitFor(() => Date.now() > r.expiresAt + 50, { timeoutMs: 5000, what: 'the token to expire' });
    const late = startAgent('late', ['--join', r.url, '--token', r.token]);
    assert.equal(await late.exited, 4, late.out());
    assert.match(late.out(), /join token expired at /);
  });

  const ps = async (app: string): Promise<Inst[]> => (await cliJson(s!, 'ps', '-a', app, '--json')) as Inst[];
  await t.test('an app scaled to 2 is spread over both hosts; the router reaches the joined host\'s instance through its link', async () => {
    assert.equal((await cli(s!, 'apps:create', 'duo')).code, 0);
    const r = await push(s!, await exampleRepo('hello-node'), 'duo');
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await cli(s!, 'ps:scale', '-a', 'duo', '2')).code, 0);
    const list = await waitFor(async () => {
      const l = await ps('duo');
      return l.length === 2 && l.every((i) => i.state === 'healthy') ? l : undefined;
    }, { timeoutMs: 30_000, what: `two healthy instances (agent: ${edge.out().slice(-2000)})` });
    const remote = list.find((i) => i.host === 'edge');
    assert.ok(remote, `one instance on the joined host: ${JSON.stringify(list)}`);
    const seen = new Set<string>();
    await waitFor(async () => {
      const res = await viaRouter(s!, 'duo');
      assert.equal(res.status, 200);
      seen.add(/instance (\S+)\)/.exec(res.body)![1]);
      return seen.has(remote.id);
    }, { timeoutMs: 15_000, what: 'an answer from the joined host\'s instance through the router' });
  });

  await t.test('hosts:drain under load: its instance moves to the other host with no failed request, and nothing more is placed there', async () => {
    const load = startLoad(s!, 'duo', { rate: 100, max: 100_000 });
    await waitFor(() => load.completed() >= 100, { timeoutMs: scaled(15_000), what: 'the load to run' });
    const r = await cli(s!, 'hosts:drain', 'edge');
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /Drained edge\./);
    const at = load.completed();
    await waitFor(() => load.completed() >= at + 100, { timeoutMs: scaled(15_000), what: 'load after the drain' });
    const sum = await load.stop();
    assertNoFailures(sum);
    assert.ok(sum.sent >= 200, `sent ${sum.sent}`);
    const list = await ps('duo');
    assert.equal(list.length, 2);
    assert.ok(list.every((i) => i.host !== 'edge'), JSON.stringify(list));
    assert.equal((await hosts()).find((h) => h.id === 'edge')?.draining, true);
    // A scale-up goes elsewhere too.
    assert.equal((await cli(s!, 'ps:scale', '-a', 'duo', '3')).code, 0);
    const three = await waitFor(async () => {
      const l = await ps('duo');
      return l.length === 3 && l.every((i) => i.state === 'healthy') ? l : undefined;
    }, { timeoutMs: 30_000, what: 'three healthy instances' });
    assert.ok(three.every((i) => i.host !== 'edge'), JSON.stringify(three));
  });

  await t.test('an app pinned to the drained host\'s region ([scale].regions) is refused, saying why', async () => {
    assert.equal((await cli(s!, 'apps:create', 'pinned')).code, 0);
    const repo = await exampleRepo('hello-node', async (dir) => {
      await editFile(dir, 'summon.toml', (t) => t.replace('[scale]\n', '[scale]\nregions = ["edge-1"]\n'));
    });
    await commitAll(repo, 'pin').catch(() => undefined);
    const r = await push(s!, repo, 'pinned');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /every host that could run it is draining \(edge\)/);
  });

  await t.test('hosts:remove revokes the host: its link closes, its agent stops, and its credential is refused', async () => {
    const saved = JSON.parse(await readFile(join(root, 'edge', 'join.json'), 'utf8')) as { credential: string; cert: string; fingerprint: string; control: string };
    const r = await cli(s!, 'hosts:remove', 'edge');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Removed edge/);
    assert.equal(await edge.exited, 4, edge.out());
    assert.match(edge.out(), /this host was removed from the control plane/);
    assert.equal((await hosts()).some((h) => h.id === 'edge'), false);
    // The old credential opens no link any more (asked from here: the answer is what matters).
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`wss://127.0.0.1:${apiPort}/internal/hosts/connect`, {
        headers: { authorization: `Bearer ${saved.credential}` },
        ...({ ca: saved.cert, checkServerIdentity: (_h: string, c: { fingerprint256: string }) => (c.fingerprint256 === saved.fingerprint ? undefined : new Error('not pinned')) } as object),
      });
      ws.on('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        ws.terminate();
      });
      ws.on('open', () => {
        ws.close();
        resolve(101);
      });
      ws.on('error', reject);
    });
    assert.equal(status, 401);
    const again = await cli(s!, 'hosts:remove', 'edge');
    assert.equal(again.code, 5);
    assert.match(again.stderr, /host "edge" not found/);
  });
});
