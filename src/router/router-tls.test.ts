// HTTPS on the Node router (tls-listener.ts) with certificates this test makes: SNI picks the
// certificate, the chain is served, unknown names are refused, the same routing and holding
// apply, X-Forwarded-Proto is https whatever the client says; [http] force_https and
// hsts_max_age; ACME HTTP-01 answers for any host.
import assert from 'node:assert/strict';
import { X509Certificate, createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import type { EdgeCert, EdgeState } from './edge-types.js';
import { Router } from './router.js';
import { TlsListener } from './tls-listener.js';
import { startUpstream, type TestUpstream } from './test-support.js';
import { makeTestPki, type HostCert, type TestPki } from '../testing/test-certs.js';

interface TlsReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The leaf the server presented: its SANs and its serial. */
  san: string;
  serial: string;
  /** Certificates the server sent (leaf first). */
  sent: number;
}

function httpsGet(port: number, o: { servername?: string; host: string; path?: string; ca: string; method?: string; headers?: Record<string, string> }): Promise<TlsReply> {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1', port, path: o.path ?? '/', method: o.method ?? 'GET', agent: false, ca: o.ca,
      servername: o.servername ?? o.host, headers: { host: o.host, ...o.headers },
    }, (res) => {
      const sock = res.socket as tls.TLSSocket;
      const peer = sock.getPeerCertificate(true);
      let sent = 0;
      for (let c: tls.DetailedPeerCertificate | undefined = peer; c && c.raw; c = c.issuerCertificate === c ? undefined : c.issuerCertificate) sent++;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body, san: peer.subjectaltname ?? '', serial: peer.serialNumber, sent }));
    });
    req.on('error', reject);
    req.end();
  });
}

function handshake(port: number, servername: string | undefined, ca: string): Promise<{ ok: boolean; error?: string }> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca, ...(servername ? { servername } : {}) });
    s.once('secureConnect', () => {
      s.destroy();
      resolve({ ok: true });
    });
    s.once('error', (e) => resolve({ ok: false, error: e.message }));
  });
}

function httpGet(port: number, host: string, path: string, method = 'GET'): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, agent: false, headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function edgeCert(app: string, hosts: string[], c: HostCert): EdgeCert {
  const leaf = new X509Certificate(c.leafPem);
  return { id: createHash('sha256').update(leaf.raw).digest('hex'), app, hosts, certPem: c.chainPem, keyPem: c.keyPem, notAfter: new Date(leaf.validTo).toISOString() };
}

function edge(p: Partial<EdgeState>): EdgeState {
  return { domains: {}, certs: [], challenges: {}, policies: {}, ...p };
}

describe('Router over HTTPS', () => {
  let dir: string;
  let pki: TestPki;
  let router: Router;
  let port: number;
  let httpsPort: number;
  let blog: TestUpstream;
  let shop: TestUpstream;
  let blogCert: EdgeCert;
  let wildCert: EdgeCert;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'summon-tls-'));
    pki = await makeTestPki(dir);
    blogCert = edgeCert('blog', ['blog.localhost', 'blog.apps.test'], await pki.issue(['blog.localhost', 'blog.apps.test']));
    wildCert = edgeCert('shop', ['*.apps.test'], await pki.issue(['*.apps.test']));
    blog = await startUpstream('blog1');
    shop = await startUpstream('shop1', (req, res) => {
      res.writeHead(200, { 'strict-transport-security': 'max-age=5', 'content-type': 'text/plain' });
      res.end(`shop ${req.url}`);
    });
    router = new Router({ port: 0, host: '127.0.0.1', httpsPort: 0, domains: ['localhost', 'apps.test'] });
    const l = await router.listen();
    port = l.port;
    httpsPort = l.httpsPort!;
    router.setRoute('blog', { kind: 'serving', upstreams: [blog.upstream()] });
    router.setRoute('shop', { kind: 'serving', upstreams: [shop.upstream()] });
    router.setEdge(edge({ certs: [blogCert, wildCert] }));
  });
  after(async () => {
    await router.close(100);
    await blog.kill();
    await shop.kill();
    await rm(dir, { recursive: true, force: true });
  });

  it('listens on a port of its own and serves the certificate SNI names, with its chain, and routes as HTTP does', async () => {
    assert.notEqual(httpsPort, port);
    assert.equal(router.address.httpsPort, httpsPort);
    const r = await httpsGet(httpsPort, { host: 'blog.apps.test', path: '/a?b=1', ca: pki.rootPem });
    assert.equal(r.status, 200);
    assert.equal(r.body, 'blog1 GET /a?b=1');
    assert.equal(r.san, 'DNS:blog.localhost, DNS:blog.apps.test', 'the exact name wins over the wildcard');
    assert.ok(r.sent >= 2, 'the intermediate is sent: the client trusts only the root');
    // The same app over plain HTTP, as before.
    assert.equal((await httpGet(port, 'blog.localhost', '/p')).body, 'blog1 GET /p');
  });

  it('a wildcard covers one label; a name no certificate covers, or no SNI at all, is refused in the handshake', async () => {
    const r = await httpsGet(httpsPort, { host: 'shop.apps.test', ca: pki.rootPem });
    assert.equal(r.san, 'DNS:*.apps.test');
    assert.equal(r.body, 'shop /');
    const before = router.tlsStats()!.unknownSni;
    const unknown = await handshake(httpsPort, 'blog.example.com', pki.rootPem);
    assert.equal(unknown.ok, false);
    assert.match(unknown.error!, /before secure TLS connection was established|alert|handshake/i);
    const none = await handshake(httpsPort, undefined, pki.rootPem);
    assert.equal(none.ok, false);
    assert.equal(router.tlsStats()!.unknownSni, before + 2);
    const l = new TlsListener(http.createServer(), { port: 0, handshakeTimeoutMs: 1000, maxConnections: 10 });
    l.setCerts([wildCert]);
    assert.ok(l.contextFor('a.apps.test') && l.contextFor('A.APPS.TEST.'), 'case and a trailing dot do not matter');
    assert.equal(l.contextFor('apps.test'), undefined, 'a wildcard does not cover its parent');
    assert.equal(l.contextFor('a.b.apps.test'), undefined, 'nor two labels');
  });

  it('X-Forwarded-Proto and Forwarded say https on HTTPS, whatever the client sent; http on HTTP', async () => {
    await httpsGet(httpsPort, { host: 'blog.localhost', path: '/fwd', ca: pki.rootPem, headers: { 'x-forwarded-proto': 'http', forwarded: 'proto=http' } });
    const seen = blog.seen.find((s) => s.url === '/fwd')!;
    assert.equal(seen.headers['x-forwarded-proto'], 'https');
    assert.match(String(seen.headers.forwarded), /proto=https$/);
    await httpGet(port, 'blog.localhost', '/fwd2');
    assert.equal(blog.seen.find((s) => s.url === '/fwd2')!.headers['x-forwarded-proto'], 'http');
  });

  it('a newer certificate for the name takes over new handshakes; a certificate that does not load is left out with an event', async () => {
    const renewed = edgeCert('blog', ['blog.localhost'], await pki.issue(['blog.localhost'], { days: 3 }));
    const events: string[] = [];
    const r2 = new Router({ port: 0, host: '127.0.0.1', httpsPort: 0, onEvent: (e) => events.push(`${e.type} ${e.app}`) });
    const p2 = (await r2.listen()).httpsPort!;
    try {
      r2.setRoute('blog', { kind: 'serving', upstreams: [blog.upstream()] });
      r2.setEdge(edge({ certs: [blogCert] }));
      const first = await httpsGet(p2, { host: 'blog.localhost', ca: pki.rootPem });
      r2.setEdge(edge({ certs: [blogCert, renewed, { ...blogCert, id: 'broken', keyPem: 'not a key' }] }));
      const second = await httpsGet(p2, { host: 'blog.localhost', ca: pki.rootPem });
      assert.notEqual(second.serial, first.serial);
      assert.equal(second.serial, new X509Certificate(renewed.certPem).serialNumber);
      assert.deepEqual(events, ['router.cert_rejected blog']);
      assert.equal(r2.tlsStats()!.certs, 2);
    } finally {
      await r2.close(100);
    }
  });

  it('holds a request over HTTPS for an app with no instance, and releases it when one comes', async () => {
    const woken: string[] = [];
    const r3 = new Router({ port: 0, host: '127.0.0.1', httpsPort: 0, wake: (a) => woken.push(a) });
    const p3 = (await r3.listen()).httpsPort!;
    try {
      r3.setRoute('blog', { kind: 'serving', upstreams: [] });
      r3.setEdge(edge({ certs: [blogCert] }));
      const pending = httpsGet(p3, { host: 'blog.localhost', path: '/held', ca: pki.rootPem });
      const { waitFor } = await import('../testing/wait.js');
      await waitFor(() => r3.appStats('blog').held === 1, { timeoutMs: 5000, what: 'the request held' });
      assert.deepEqual(woken, ['blog']);
      r3.setRoute('blog', { kind: 'serving', upstreams: [blog.upstream()] });
      const r = await pending;
      assert.equal(r.body, 'blog1 GET /held');
    } finally {
      await r3.close(100);
    }
  });

  it('relays an Upgrade (websocket) handshake and bytes over HTTPS', async () => {
    const up = await startUpstream('ws1');
    up.server.on('upgrade', (req: http.IncomingMessage, socket: import('node:net').Socket) => {
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\nX-Proto: ${String(req.headers['x-forwarded-proto'])}\r\n\r\n`);
      socket.pipe(socket);
    });
    try {
      router.setRoute('ws', { kind: 'serving', upstreams: [up.upstream()] });
      const got = await new Promise<{ proto: string; echo: string }>((resolve, reject) => {
        const req = https.request({ host: '127.0.0.1', port: httpsPort, servername: 'ws.apps.test', ca: pki.rootPem, agent: false, headers: { host: 'ws.apps.test', connection: 'Upgrade', upgrade: 'echo' } });
        req.on('upgrade', (res, socket) => {
          socket.write('ping');
          socket.once('data', (d: Buffer) => {
            socket.destroy();
            resolve({ proto: String(res.headers['x-proto']), echo: d.toString() });
          });
        });
        req.on('error', reject);
        req.end();
      });
      assert.deepEqual(got, { proto: 'https', echo: 'ping' });
    } finally {
      router.deleteRoute('ws');
      await up.kill();
    }
  });

  it('[http] force_https: plain HTTP answered 308 to the https URL with its port, ACME challenges excepted; HTTPS served', async () => {
    router.setEdge(edge({ certs: [blogCert, wildCert], policies: { blog: { forceHttps: true, hstsMaxAge: null } }, challenges: { tok123: 'tok123.thumb' } }));
    try {
      const r = await httpGet(port, 'blog.localhost:8080', '/x/y?z=1');
      assert.equal(r.status, 308);
      assert.equal(r.headers.location, `https://blog.localhost:${httpsPort}/x/y?z=1`);
      assert.equal((await httpGet(port, 'blog.localhost', '/form', 'POST')).status, 308, 'a POST too (308 keeps the method)');
      const acme = await httpGet(port, 'blog.localhost', '/.well-known/acme-challenge/tok123');
      assert.equal(acme.status, 200);
      assert.equal(acme.body, 'tok123.thumb');
      const other = await httpGet(port, 'blog.localhost', '/.well-known/acme-challenge/unknown');
      assert.equal(other.body, 'blog1 GET /.well-known/acme-challenge/unknown', 'a token not in flight is the app\'s, over HTTP');
      assert.equal((await httpGet(port, 'shop.localhost', '/')).status, 200, 'another app keeps plain HTTP');
      assert.equal((await httpsGet(httpsPort, { host: 'blog.localhost', path: '/s', ca: pki.rootPem })).body, 'blog1 GET /s');
    } finally {
      router.setEdge(edge({ certs: [blogCert, wildCert] }));
    }
  });

  it('[http] hsts_max_age: Strict-Transport-Security on HTTPS answers only, replacing the app\'s own', async () => {
    router.setEdge(edge({ certs: [blogCert, wildCert], policies: { shop: { forceHttps: false, hstsMaxAge: 31536000 }, blog: { forceHttps: false, hstsMaxAge: 0 } } }));
    try {
      const s = await httpsGet(httpsPort, { host: 'shop.apps.test', ca: pki.rootPem });
      assert.equal(s.headers['strict-transport-security'], 'max-age=31536000');
      assert.equal((await httpsGet(httpsPort, { host: 'blog.localhost', ca: pki.rootPem })).headers['strict-transport-security'], 'max-age=0');
      assert.equal((await httpGet(port, 'blog.localhost', '/')).headers['strict-transport-security'], undefined, 'never over plain HTTP');
      assert.equal((await httpGet(port, 'shop.localhost', '/')).headers['strict-transport-security'], 'max-age=5', 'the app\'s own over HTTP is its business');
    } finally {
      router.setEdge(edge({ certs: [blogCert, wildCert] }));
    }
  });

  it('answers ACME HTTP-01 for any host, even one no app owns', async () => {
    router.setEdge(edge({ certs: [blogCert], challenges: { 'abc-DEF_1': 'abc-DEF_1.xyz' } }));
    const r = await httpGet(port, 'www.not-yet-routed.example', '/.well-known/acme-challenge/abc-DEF_1');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'abc-DEF_1.xyz');
    assert.match(String(r.headers['content-type']), /^text\/plain/);
    assert.equal((await httpGet(port, 'www.not-yet-routed.example', '/.well-known/acme-challenge/other')).status, 404);
    router.setEdge(edge({ certs: [blogCert, wildCert] }));
  });

  it('refuses an HTTPS port equal to the HTTP port', () => {
    assert.throws(() => new Router({ port: 8080, httpsPort: 8080 }), /HTTP port too/);
  });
});
