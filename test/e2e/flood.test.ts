// A flood of idle connections against a real `summon up`: measured on main, ~20,000 idle TCP
// connections (no token, sending nothing) exhausted Summon's descriptors, health checks failed
// with EMFILE, healthy instances were killed, and the process died. Bounded here: 6,000 idle
// sockets from six loopback addresses, loopback only, held for a few seconds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { cli, cliJson, exampleRepo, push, startSummonFor, viaRouter } from './harness.js';
import { waitFor } from '../../src/testing/wait.js';

const PER_ADDRESS = 1000; // summon up's default --max-connections-per-ip
const ADDRESSES = 6;
/** Summon's resident memory while it holds the flood stays under this (README: Limits). */
const RSS_BOUND_MB = 256;

function rssMb(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
}

function open(port: number, localAddress: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, localAddress });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

test('6,000 idle connections: refused past the per-address cap, the app keeps answering, healthy instances stay, memory bounded, idle sockets cut at the header timeout', async (t) => {
  const s = await startSummonFor(t, 'flood', ['--no-vm', '--header-timeout', '4s']);
  const sockets: net.Socket[] = [];
  t.after(() => {
    for (const sock of sockets) sock.destroy();
  });
  assert.equal((await cli(s, 'apps:create', 'steady')).code, 0);
  const r = await push(s, await exampleRepo('hello-node'), 'steady');
  assert.equal(r.code, 0, r.stderr);
  const [before] = (await cliJson(s, 'ps', '-a', 'steady', '--json')) as { id: string; restarts: number; state: string }[];
  const rssBefore = rssMb(s.proc.pid!);

  // 1,000 idle sockets from each of 127.0.0.2 … 127.0.0.7, sending nothing.
  const closed: Promise<void>[] = [];
  for (let a = 2; a < 2 + ADDRESSES; a++) {
    for (let i = 0; i < PER_ADDRESS; i += 100) {
      const batch = await Promise.all(Array.from({ length: 100 }, () => open(s.routerPort, `127.0.0.${a}`)));
      for (const sock of batch) {
        sock.on('error', () => {});
        closed.push(new Promise((res) => sock.once('close', () => res())));
        sockets.push(sock);
      }
    }
  }
  // One more from a full address: a clean refusal, not a held socket.
  const extra = await open(s.routerPort, '127.0.0.2');
  sockets.push(extra);
  const refusal = await new Promise<string>((res) => {
    let text = '';
    extra.setEncoding('utf8');
    extra.on('data', (c: string) => (text += c));
    extra.on('close', () => res(text));
    extra.on('error', () => {});
  });
  assert.match(refusal, /^HTTP\/1\.1 503 /, 'the 1,001st connection from one address is refused with a 503');
  assert.match(refusal, /retry-after:/i);

  // Meanwhile: the app answers, the API answers, the instance is the same healthy one.
  for (let i = 0; i < 20; i++) {
    const res = await viaRouter(s, 'steady');
    assert.equal(res.status, 200, `request ${i} while 6,000 sockets are held`);
  }
  const [during] = (await cliJson(s, 'ps', '-a', 'steady', '--json')) as { id: string; restarts: number; state: string }[];
  assert.deepEqual([during.id, during.state, during.restarts], [before.id, 'healthy', before.restarts], 'no healthy instance killed');
  const rss = rssMb(s.proc.pid!);
  t.diagnostic(`Summon RSS ${rssBefore.toFixed(0)} MB before, ${rss.toFixed(0)} MB holding ${ADDRESSES * PER_ADDRESS} idle connections`);
  assert.ok(rss < RSS_BOUND_MB, `RSS ${rss.toFixed(0)} MB < ${RSS_BOUND_MB} MB`);

  // Silent connections are cut at the header timeout (4 s here), and nothing was held open longer.
  await waitFor(async () => {
    await Promise.all(closed);
    return true;
  }, { timeoutMs: 30_000, what: 'Summon to close the idle connections at its header timeout' });
  assert.equal((await viaRouter(s, 'steady')).status, 200);
  assert.doesNotMatch(s.output(), /internal error|EMFILE/);
});
