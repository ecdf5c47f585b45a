// Automatic certificates end to end: a real `summon up` (its data plane a process of its own),
// the real CLI, a pushed app, and a real pebble started here (its HTTPS from a CA this test
// makes, its VA dialling Summon's HTTP port, names resolved by pebble-challtestsrv to
// 127.0.0.1). certs:auto obtains a certificate for the app's domain, HTTPS with that name
// (SNI) is served with it, the renewal loop replaces it once a third of its lifetime is left,
// and --off stops it.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import https from 'node:https';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { startPebble } from '../../src/testing/pebble.js';
import { freePort, waitFor } from '../../src/testing/wait.js';
import { cli, cliJson, exampleRepo, push, startSummonProcess, tempDir } from './harness.js';

function viaHttps(port: number, host: string, ca: string): Promise<{ status: number; body: string; serial: string; proto: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path: '/', servername: host, headers: { host }, ca, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, serial: (res.socket as TLSSocket).getPeerCertificate().serialNumber, proto: (res.socket as TLSSocket).alpnProtocol || '' }));
    });
    req.on('error', reject);
  });
}

test('certs:auto against pebble: obtained, served by SNI over HTTPS, renewed ahead of expiry, turned off', async (t) => {
  const root = await tempDir('acme');
  t.after(() => rm(root, { recursive: true, force: true }));
  // Pebble's VA must know Summon's HTTP port before Summon starts; Summon must know pebble's
  // directory: the port is chosen first.
  const routerPort = await freePort();
  // Certificates valid 45 s: renewed once about 15 s are left (a third of notAfter − notBefore).
  const pebble = await startPebble({ dir: join(root, 'pebble'), httpPort: routerPort, validitySeconds: 45 });
  t.after(() => pebble.close());
  const s = await startSummonProcess(join(root, 'data'), [
    '--no-vm', '--router-port', String(routerPort),
    '--acme-directory', pebble.directoryUrl, '--acme-ca', pebble.tls.caFile, '--acme-email', 'ops@example.com',
  ]);
  t.after(async () => void (await s.stop()));
  assert.ok(s.httpsPort, `summon up says where HTTPS listens:\n${s.stdout()}`);
  const pebbleRoot = await pebble.issuerRoot();

  assert.equal((await cli(s, 'apps:create', 'shop')).code, 0);
  const pushed = await push(s, await exampleRepo('hello-node'), 'shop');
  assert.equal(pushed.code, 0, pushed.stderr);

  const none = await cli(s, 'certs:auto', '-a', 'shop');
  assert.equal(none.code, 2, 'no domain yet: refused as bad input');
  assert.match(none.stderr, /shop has no custom domain .*summon domains:add -a shop HOST/);

  assert.equal((await cli(s, 'domains:add', '-a', 'shop', 'shop.example.test')).code, 0);
  const on = await cli(s, 'certs:auto', '-a', 'shop');
  assert.equal(on.code, 0, `${on.stdout}\n${on.stderr}\npebble:\n${pebble.output().slice(-3000)}`);
  assert.match(on.stdout, /-----> asking https:\/\/127\.0\.0\.1:\d+\/dir for a certificate for shop\.example\.test/);
  assert.match(on.stdout, /-----> shop\.example\.test: answering HTTP-01/);
  assert.match(on.stdout, /certs:auto is on for shop: obtained a certificate for shop\.example\.test, valid until/);

  // Served by SNI over HTTPS, chained to pebble's root, routed to the app.
  const first = await viaHttps(s.httpsPort!, 'shop.example.test', pebbleRoot);
  assert.equal(first.status, 200);
  assert.match(first.body, /hello/i);
  const status = await cliJson(s, 'certs:auto', '-a', 'shop', '--status', '--json') as { enabled: boolean; cert: { notAfter: number; renewAt: number } | null; nextOrderAt: number };
  assert.equal(status.enabled, true);
  assert.ok(status.cert && status.nextOrderAt === status.cert.renewAt && Math.abs(status.cert.notAfter - status.cert.renewAt - 15_000) < 1000, JSON.stringify(status));
  const listed = await cliJson(s, 'certs', '-a', 'shop', '--json') as { source?: string }[] | { certs?: { source?: string }[] };
  assert.ok(JSON.stringify(listed).includes('acme'), `certs lists the ACME certificate: ${JSON.stringify(listed)}`);

  // The loop renews it: new handshakes get the new certificate, and an event says so.
  const renewed = await waitFor(async () => {
    const r = await viaHttps(s.httpsPort!, 'shop.example.test', pebbleRoot);
    return r.serial !== first.serial ? r : null;
  }, { timeoutMs: 90_000, intervalMs: 500, what: 'the renewed certificate to be served' });
  assert.equal(renewed.status, 200);
  const events = await cliJson(s, 'events', '-a', 'shop', '-n', '1000', '--json') as { type: string; message: string }[];
  assert.ok(events.some((e) => e.type === 'cert.issued'), 'cert.issued');
  assert.ok(events.some((e) => e.type === 'cert.renewed' && /renewed the certificate for shop\.example\.test/.test(e.message)), JSON.stringify(events.filter((e) => e.type.startsWith('cert.'))));

  const off = await cli(s, 'certs:auto', '-a', 'shop', '--off');
  assert.equal(off.code, 0, off.stderr);
  assert.match(off.stdout, /certs:auto is off for shop/);
  const after = await cliJson(s, 'certs:auto', '-a', 'shop', '--status', '--json') as { enabled: boolean; nextOrderAt: number | null };
  assert.deepEqual([after.enabled, after.nextOrderAt], [false, null]);
  // The certificate obtained keeps serving.
  assert.equal((await viaHttps(s.httpsPort!, 'shop.example.test', pebbleRoot)).status, 200);
});
