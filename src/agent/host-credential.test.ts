import assert from 'node:assert/strict';
import { test } from 'node:test';
import { agentCredentials, credentialHost, hostCredential, verifyHostCredential } from './host-credential.js';

const SECRET = 'ak_the-control-planes-secret';

test('each host has its own credential, derived from the secret, verified in constant time', () => {
  const edge = hostCredential(SECRET, 'edge');
  assert.match(edge, /^ah_edge\.[A-Za-z0-9_-]{43}$/);
  assert.equal(hostCredential(SECRET, 'edge'), edge, 'the same every time: nothing to store');
  assert.notEqual(hostCredential(SECRET, 'edge2'), edge);
  assert.notEqual(hostCredential('ak_another-secret', 'edge'), edge);
  assert.equal(credentialHost(edge), 'edge');
  assert.equal(verifyHostCredential(SECRET, edge), 'edge');
  assert.equal(verifyHostCredential('ak_another-secret', edge), null);
  // A leaked credential renamed for another host is not that host's.
  assert.equal(verifyHostCredential(SECRET, edge.replace('ah_edge.', 'ah_edge2.')), null);
  assert.equal(verifyHostCredential(SECRET, SECRET), null, 'the secret itself is no host credential');
  assert.equal(verifyHostCredential(SECRET, null), null);
  assert.throws(() => hostCredential(SECRET, 'Bad_Id'), /not a host id/);
});

test('an agent sends its own credential; given the shared secret it derives one and also accepts the secret', () => {
  const own = hostCredential(SECRET, 'edge');
  assert.deepEqual(agentCredentials(own, 'edge'), { send: own, accept: [own], shared: false });
  assert.throws(() => agentCredentials(own, 'edge2'), /host edge's, not edge2's/);
  assert.throws(() => agentCredentials('ah_nonsense', 'edge'), /not a host credential/);
  assert.deepEqual(agentCredentials(SECRET, 'edge'), { send: own, accept: [own, SECRET], shared: true });
});
