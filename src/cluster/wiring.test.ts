// A follower's API forwards to the leader: what goes, what is answered locally, the 503 while no
// leader is known, and the client's address the leader sees (only with the nodes' proof).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { clientAddress } from '../api/auth.js';
import { silentLogger } from '../logging/logger.js';
import { forwardWhileFollowing, forwarded, gateAgent } from './wiring.js';
import type { HostAgent } from '../agent/host-agent.js';

function server(name: string): http.Server {
  return http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => res.end(JSON.stringify({ by: name, url: req.url, method: req.method, body, client: clientAddress(req), proof: req.headers['x-summon-forward-proof'] ?? null })));
  });
}

async function listen(s: http.Server): Promise<string> {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

function request(url: string, o: { method?: string; body?: string; headers?: Record<string, string>; from?: string } = {}): Promise<{ status: number; json: any; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: o.method ?? 'GET', headers: o.headers ?? {}, ...(o.from ? { localAddress: o.from } : {}), agent: false }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text), headers: res.headers }));
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

test('a follower forwards API, git and hook requests to the leader, and answers the rest itself', async (t) => {
  const proof = 'p'.repeat(64);
  const leaderSrv = server('leader');
  const followerSrv = server('follower');
  let leaderKnown = true;
  const leaderUrl = await listen(leaderSrv);
  forwardWhileFollowing(leaderSrv, { leading: () => true, leader: () => ({ node: 'a', apiUrl: leaderUrl }), node: 'a', log: silentLogger(), proof });
  forwardWhileFollowing(followerSrv, { leading: () => false, leader: () => (leaderKnown ? { node: 'a', apiUrl: leaderUrl } : null), node: 'b', log: silentLogger(), proof });
  const followerUrl = await listen(followerSrv);
  t.after(() => {
    leaderSrv.close();
    followerSrv.close();
  });

  // A change through the follower reaches the leader, body and all; the leader sees the
  // client's address (127.0.0.2 here), not the follower's, and the proof is not passed on.
  const r = await request(`${followerUrl}/api/apps`, { method: 'POST', body: '{"name":"x"}', from: '127.0.0.2' });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, { by: 'leader', url: '/api/apps', method: 'POST', body: '{"name":"x"}', client: '127.0.0.2', proof: null });
  for (const path of ['/git/x.git/info/refs?service=git-receive-pack', '/internal/push', '/metrics']) {
    assert.equal((await request(`${followerUrl}${path}`)).json.by, 'leader', path);
  }
  // The dashboard's files, health and its own view of the cluster: the follower's own.
  for (const path of ['/', '/assets/main.js', '/healthz', '/api/cluster']) {
    assert.equal((await request(`${followerUrl}${path}`)).json.by, 'follower', path);
  }
  // A client cannot claim another address: without the nodes' proof X-Forwarded-For is ignored.
  const forged = await request(`${leaderUrl}/api/apps`, { headers: { 'x-forwarded-for': '6.6.6.6', 'x-summon-forward-proof': 'q'.repeat(64) }, from: '127.0.0.2' });
  assert.equal(forged.json.client, '127.0.0.2');
  // During a failover: 503, with when to try again.
  leaderKnown = false;
  const during = await request(`${followerUrl}/api/apps`);
  assert.equal(during.status, 503);
  assert.equal(during.headers['retry-after'], '2');
  assert.match(during.json.error.message, /node b follows and no leader is known right now/);
  assert.equal(forwarded('/api/openapi.json'), false);
});

test('a gated agent passes desired sets on only while this node leads', async () => {
  const got: unknown[][] = [];
  const agent = { hostId: 'h', setDesired: async (l: unknown[]) => void got.push(l), link: () => ({ state: 'local', address: '127.0.0.1', since: 0 }) } as unknown as HostAgent;
  let leading = true;
  const g = gateAgent(agent, () => leading);
  await g.setDesired([]);
  leading = false;
  await g.setDesired([]);
  assert.equal(got.length, 1);
  assert.equal(g.hostId, 'h');
  assert.equal(g.link().state, 'local');
});
