// Two hosts: the control plane (with its own agent) on this machine, and a second host made
// of a network namespace of the test's own, joined by a veth pair, running `summon agent`.
// An app scaled to 2 gets an instance on each host and the router serves both; with the
// control plane killed (SIGKILL) the remote agent keeps its instance running and heals it
// when it crashes; the control plane, started again, adopts it and routes to it again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import { BIN, cli, cliJson, exampleRepo, push, startMailbox, startSummonProcess, tempDir, viaRouter, vmCache, type SummonProcess } from './harness.js';
import { hasQemu } from '../../src/runtimes/qemu/vm-hello-fixture.js';
import { freePort, waitFor } from '../../src/testing/wait.js';

interface Inst { id: string; host: string; state: string; address: string; port: number; pid: number; restarts: number; reason: string | null }

function sh(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, (e, out, err) => (e ? reject(new Error(`${cmd} ${args.join(' ')}: ${err || e.message}`)) : resolve(out)));
  });
}

/** A GET to the agent over its TLS, trusting exactly its own certificate. */
function getJson(url: string, token: string, ca: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    https.get(url, { headers: { authorization: `Bearer ${token}` }, agent: false, timeout: 3000, ca, checkServerIdentity: () => undefined }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : null }));
    }).on('error', reject).on('timeout', function (this: http.ClientRequest) {
      this.destroy(new Error('timeout'));
    });
  });
}

async function netnsUsable(): Promise<string | false> {
  if (process.getuid?.() !== 0) return 'needs root to make a network namespace';
  try {
    await sh('ip', ['netns', 'list']);
    return false;
  } catch (e) {
    return `ip netns does not work here: ${(e as Error).message}`;
  }
}

const why = await netnsUsable();

test('two hosts: a remote agent runs, heals without the control plane, and is adopted again', { skip: why || false }, async (t) => {
  const tag = randomBytes(3).toString('hex');
  const ns = `summon-mh-${tag}`;
  const [vethHost, vethNs] = [`vsm${tag}a`, `vsm${tag}b`];
  const net = `10.233.${parseInt(tag.slice(0, 2), 16)}`;
  const [hostAddr, nsAddr] = [`${net}.1`, `${net}.2`];
  const root = await tempDir('multi-host');
  let agent: ChildProcess | undefined;
  let agentOut = '';
  let s: SummonProcess | undefined;
  t.after(async () => {
    await s?.stop();
    if (agent && agent.exitCode === null) {
      agent.kill('SIGTERM');
      await new Promise((r) => agent!.once('exit', r));
    }
    await sh('ip', ['netns', 'del', ns]).catch(() => undefined); // takes the veth pair with it
    await rm(root, { recursive: true, force: true });
  });

  // The second host: its own network stack, reached over a veth pair.
  await sh('ip', ['netns', 'add', ns]);
  await sh('ip', ['link', 'add', vethHost, 'type', 'veth', 'peer', 'name', vethNs]);
  await sh('ip', ['link', 'set', vethNs, 'netns', ns]);
  await sh('ip', ['addr', 'add', `${hostAddr}/30`, 'dev', vethHost]);
  await sh('ip', ['link', 'set', vethHost, 'up']);
  await sh('ip', ['netns', 'exec', ns, 'ip', 'addr', 'add', `${nsAddr}/30`, 'dev', vethNs]);
  await sh('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', vethNs, 'up']);
  await sh('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);

  // Operators hear of a host that drops off by email.
  const mailbox = await startMailbox();
  t.after(() => mailbox.close());
  const mails = mailbox.mails;
  const smtpPort = mailbox.port;

  const dataDir = join(root, 'control');
  const agentUrl = `https://${nsAddr}:7171`;
  // A fixed API port: the agent fetches artifacts from it, also after the control plane restarts.
  const apiPort = await freePort();
  const control = `http://${hostAddr}:${apiPort}`;
  // The agent token is made before either side starts (summon up keeps one it finds), so the
  // agent is up first and the control plane finds it at once.
  await mkdir(dataDir, { recursive: true });
  const agentToken = `ak_${randomBytes(24).toString('base64url')}`;
  await writeFile(join(dataDir, 'agent.token'), `${agentToken}\n`, { mode: 0o600 });
  const startAgent = (): void => {
    // nsenter --net, not `ip netns exec`: that also remounts /sys, hiding the cgroup hierarchies
    // the agent confines its instances with (it would refuse to start).
    agent = spawn('nsenter', [`--net=/run/netns/${ns}`, process.execPath, BIN, 'agent', '--id', 'edge', '--listen', `${nsAddr}:7171`,
      '--advertise', nsAddr, '--control', control, '--token', agentToken, '--data', join(root, 'edge')], { stdio: ['ignore', 'pipe', 'pipe'] });
    agent.stdout!.on('data', (c) => (agentOut += c));
    agent.stderr!.on('data', (c) => (agentOut += c));
  };
  startAgent();
  // It serves TLS with a certificate of its own and says how to pin it.
  const pinnedUrl = (await waitFor(() => /Agent edge is up at (https:\/\/\S+#sha256=\S+)/.exec(agentOut), { timeoutMs: 20_000, what: `the edge agent to start (output: ${agentOut})` }))[1];
  assert.ok(pinnedUrl.startsWith(`${agentUrl}#sha256=`), pinnedUrl);
  const agentCa = await readFile(join(root, 'edge', 'tls', 'agent-cert.pem'), 'utf8');
  const upArgs = ['--host', '0.0.0.0', '--api-port', String(apiPort), '--no-vm', '--agent', `edge=${pinnedUrl}`, '--host-lost-after', '2s',
    '--smtp', `smtp://127.0.0.1:${smtpPort}`, '--mail-from', 'summon@example.com', '--mail-to', 'ops@example.com'];
  s = await startSummonProcess(dataDir, upArgs);
  const hostsNow = async () => (await cliJson(s!, 'hosts', '--json')) as { id: string; link: string; address: string }[];

  await t.test('summon hosts shows the remote agent connected', async () => {
    const hosts = await waitFor(async () => {
      const h = await hostsNow();
      return h.find((x) => x.id === 'edge')?.link === 'connected' ? h : undefined;
    }, { timeoutMs: 20_000, what: `the edge agent to connect (agent output: ${agentOut})` });
    assert.deepEqual(hosts.map((h) => h.link).sort(), ['connected', 'local']);
    assert.equal(hosts.find((h) => h.id === 'edge')!.address, nsAddr);
  });

  const ps = async (): Promise<Inst[]> => (await cliJson(s!, 'ps', '-a', 'duo', '--json')) as Inst[];
  let remote!: Inst;
  await t.test('scaled to 2, the app runs on both hosts and the router serves both', async () => {
    assert.equal((await cli(s!, 'apps:create', 'duo')).code, 0);
    const r = await push(s!, await exampleRepo('hello-node'), 'duo');
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await cli(s!, 'ps:scale', '-a', 'duo', '2')).code, 0);
    const list = await waitFor(async () => {
      const l = await ps();
      return l.length === 2 && l.every((i) => i.state === 'healthy') ? l : undefined;
    }, { timeoutMs: 30_000, what: 'two healthy instances' });
    remote = list.find((i) => i.host === 'edge')!;
    assert.ok(remote, `one instance on the edge host: ${JSON.stringify(list)}`);
    assert.equal(remote.address, nsAddr);
    const seen = new Set<string>();
    await waitFor(async () => {
      const res = await viaRouter(s!, 'duo');
      assert.equal(res.status, 200);
      seen.add(/instance (\S+)\)/.exec(res.body)![1]);
      return seen.size === 2;
    }, { timeoutMs: 10_000, what: 'answers from both instances through the router' });
    assert.ok(seen.has(remote.id));
  });

  let downAt = 0;
  await t.test('control plane killed: the remote instance keeps serving and the agent heals it', async () => {
    // The control plane has noted where it is in the agent's stream before it dies.
    await waitFor(() => existsSync(join(dataDir, 'hosts', 'edge.cursor')), { timeoutMs: 5000, what: 'the stream cursor on disk' });
    downAt = Date.now();
    await s!.kill9();
    // The instance on the edge host still answers on its own address.
    const direct = await new Promise<number>((resolve, reject) => {
      http.get({ host: nsAddr, port: remote.port, path: '/', agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject);
    });
    assert.equal(direct, 200);
    // It crashes with nobody to tell: the agent restarts it by itself.
    process.kill(remote.pid, 'SIGKILL');
    const healed = await waitFor(async () => {
      const hello = await getJson(`${agentUrl}/v1/hello`, agentToken, agentCa);
      const i = (hello.body as { instances: Inst[] }).instances.find((x) => x.id === remote.id);
      return i && i.restarts >= 1 && i.state === 'healthy' ? i : undefined;
    }, { timeoutMs: 15_000, what: 'the edge agent to restart its instance on its own' });
    assert.notEqual(healed.pid, remote.pid);
    const unauthorized = await getJson(`${agentUrl}/v1/hello`, 'not-the-token-at-all', agentCa);
    assert.equal(unauthorized.status, 401);
  });

  await t.test('started again, the control plane adopts the healed instance, routes to it, and hears what it missed', async () => {
    const upAt = Date.now();
    s = await startSummonProcess(dataDir, upArgs);
    const list = await waitFor(async () => {
      const l = await ps();
      const r = l.find((i) => i.id === remote.id);
      return l.length === 2 && r?.state === 'healthy' && r.restarts >= 1 ? l : undefined;
    }, { timeoutMs: 20_000, what: 'the remote instance adopted, healthy, with its restart' });
    assert.equal(list.filter((i) => i.host === 'edge').length, 1);
    const seen = new Set<string>();
    await waitFor(async () => {
      const res = await viaRouter(s!, 'duo');
      if (res.status === 200) seen.add(/instance (\S+)\)/.exec(res.body)![1]);
      return seen.has(remote.id);
    }, { timeoutMs: 10_000, what: 'the router to reach the remote instance again' });
    // The crash and the restart happened while nobody listened; the agent replays them, with
    // the time they happened.
    const crash = await waitFor(async () => {
      const evs = (await cliJson(s!, 'events', '-a', 'duo', '--json')) as { type: string; at: number; data: { instance?: string } }[];
      return evs.find((e) => e.type === 'instance.crashed' && e.data.instance === remote.id);
    }, { timeoutMs: 10_000, what: 'the crash during the outage in the event log' });
    assert.ok(crash.at >= downAt && crash.at <= upAt, `crash at ${crash.at}, outage ${downAt}..${upAt}`);
  });

  await t.test('the agent stopped: hosts says unreachable, ps says why its instance may be stale', async () => {
    assert.deepEqual(mails.filter((m) => /host edge is unreachable/.test(m.raw)), [], 'no host.unreachable mail while it was reachable');
    agent!.kill('SIGTERM');
    await new Promise((r) => agent!.once('exit', r));
    const edge = await waitFor(async () => (await hostsNow()).find((h) => h.id === 'edge' && h.link === 'unreachable'),
      { timeoutMs: 20_000, what: 'the edge host to show as unreachable' });
    assert.ok(edge);
    const metrics = await new Promise<string>((resolve, reject) => {
      http.get(`${s!.apiUrl}/metrics`, { headers: { authorization: `Bearer ${s!.token}` } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve(text));
      }).on('error', reject);
    });
    assert.match(metrics, /^summon_host_up\{host="edge"\} 0$/m);
    const mail = await waitFor(() => mails.find((m) => /Subject: \[summon\] host edge is unreachable/.test(m.raw)), { timeoutMs: 10_000, what: 'the host.unreachable email' });
    assert.match(mail.raw, /See: summon hosts/);
    const hostEvents = (await cliJson(s!, 'hosts:events', '--json')) as { type: string; data: { host?: string } }[];
    assert.equal(hostEvents.at(-1)?.type, 'host.unreachable');
    assert.equal(hostEvents.at(-1)?.data.host, 'edge');
    const r = (await ps()).find((i) => i.id === remote.id);
    // Unless it was already given up (--host-lost-after 2s), it says why its state may be stale.
    if (r) assert.match(r.reason ?? '', /host edge unreachable since/);
  });

  await t.test('unreachable past --host-lost-after: its instance is replaced on a reachable host', async () => {
    const list = await waitFor(async () => {
      const l = await ps();
      return l.length === 2 && l.every((i) => i.state === 'healthy' && i.host !== 'edge') ? l : undefined;
    }, { timeoutMs: 20_000, what: 'two healthy instances, none on the lost host' });
    assert.ok(!list.some((i) => i.id === remote.id));
    const events = (await cliJson(s!, 'events', '-a', 'duo', '--json')) as { type: string; message: string }[];
    assert.ok(events.some((e) => e.type === 'instance.lost' && e.message.includes(remote.id)), JSON.stringify(events.map((e) => e.type)));
  });

  await t.test('the lost host comes back: its agent stops the instance that was replaced', async () => {
    startAgent(); // it resumes its saved desired set first, then hears the control plane's
    await waitFor(async () => (await hostsNow()).find((h) => h.id === 'edge')?.link === 'connected', { timeoutMs: 20_000, what: 'the edge agent back' });
    await waitFor(async () => {
      const hello = await getJson(`${agentUrl}/v1/hello`, agentToken, agentCa).catch(() => undefined);
      return hello && (hello.body as { instances: Inst[] }).instances.length === 0;
    }, { timeoutMs: 20_000, what: 'the edge agent to stop the replaced instance' });
    assert.equal((await ps()).length, 2);
    const back = await waitFor(async () => {
      const list = (await cliJson(s!, 'hosts:events', '--json')) as { type: string; message: string }[];
      return list.at(-1)?.type === 'host.connected' ? list.at(-1) : undefined;
    }, { timeoutMs: 5000, what: 'host.connected in hosts:events' });
    assert.match(back.message, /host edge is connected again/);
  });

  await t.test('a VM app goes to the host that offers qemu: the edge agent boots it and the router serves it', { skip: (await hasQemu()) ? false : 'qemu-system-x86_64 is not installed' }, async () => {
    // This control plane runs with --no-vm: only the edge host offers qemu.
    const edge = (await hostsNow()) as unknown as { id: string; runtimes: { target: string; available: boolean; reason: string }[] }[];
    const q = edge.find((h) => h.id === 'edge')!.runtimes.find((r) => r.target === 'qemu');
    assert.equal(q?.available, true, JSON.stringify(q));
    assert.match(q!.reason, /network: user-mode, forwarded on 0\.0\.0\.0 for a router on another host/);
    assert.equal((await cli(s!, 'apps:create', 'vmedge')).code, 0);
    assert.equal((await cli(s!, 'config:set', '-a', 'vmedge', `SUMMON_VM_CACHE=${await vmCache()}`)).code, 0);
    const r = await push(s!, await exampleRepo('vm-hello'), 'vmedge');
    assert.equal(r.code, 0, r.stderr);
    // A booting guest keeps a TCG core busy, so CPU autoscaling may add an instance: all of
    // them can only be on the edge host.
    let last: Inst[] = [];
    const inst = await waitFor(async () => {
      last = (await cliJson(s!, 'ps', '-a', 'vmedge', '--json')) as Inst[];
      return last.every((i) => i.host === 'edge') ? last.find((i) => i.state === 'healthy') : undefined;
    }, { timeoutMs: 60_000, what: 'the VM healthy on the edge host' }).catch((e: Error) => {
      throw new Error(`${e.message}; ps: ${JSON.stringify(last)}; push: ${r.stderr.slice(-1500)}`);
    });
    assert.deepEqual([inst.host, inst.address], ['edge', nsAddr]);
    const res = await viaRouter(s!, 'vmedge');
    assert.equal(res.status, 200);
    assert.match(res.body, /hello from vm-hello release v1 instance vmedge-/);
  });
});
