// Strict HTTP at the edge: raw bytes on loopback sockets, the way an attacker sends them.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as msg from './messages.js';
import { Router } from './router.js';
import { rawRequest, startUpstream, type RawReply, type TestUpstream } from './test-support.js';

function assertRouterMade(r: RawReply, status: number, body?: string | RegExp): void {
  assert.equal(r.status, status, `got ${JSON.stringify(r.raw)}`);
  assert.match(r.headers['content-type'] ?? '', /^text\/plain; charset=utf-8$/);
  assert.equal(r.headers['connection'], 'close');
  assert.equal(Number(r.headers['content-length']), Buffer.byteLength(r.body));
  if (typeof body === 'string') assert.equal(r.body, body);
  else if (body) assert.match(r.body, body);
}

describe('Router: strict HTTP at the edge', () => {
  let router: Router;
  let port: number;
  let blog: TestUpstream;
  let other: TestUpstream;
  before(async () => {
    blog = await startUpstream('blog1');
    other = await startUpstream('other1');
    router = new Router({ port: 0, host: '127.0.0.1' });
    ({ port } = await router.listen());
    router.setRoute('blog', { kind: 'serving', upstreams: [blog.upstream()] });
    router.setRoute('other', { kind: 'serving', upstreams: [other.upstream()] });
  });
  after(async () => {
    await router.close(1000);
    await blog.kill();
    await other.kill();
  });

  it('answers duplicate Host headers 400 and routes nothing', async () => {
    const seen = blog.seen.length + other.seen.length;
    const r = await rawRequest(port, 'GET / HTTP/1.1\r\nHost: blog.localhost\r\nHost: other.localhost\r\n\r\n');
    assertRouterMade(r, 400, msg.badRequestBody('duplicate_host'));
    const empty = await rawRequest(port, 'GET / HTTP/1.1\r\nHost:\r\nHost: blog.localhost\r\n\r\n');
    assertRouterMade(empty, 400, msg.badRequestBody('duplicate_host'));
    assert.equal(blog.seen.length + other.seen.length, seen);
  });

  // Each is followed by a request that would be smuggled if the framing were believed.
  const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: blog.localhost\r\n\r\n';
  const framing: [string, string, string | RegExp][] = [
    // refused by the router (llhttp lets these through)
    ['TE identity, chunked', 'Transfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n', msg.badRequestBody('bad_transfer_encoding')],
    ['TE gzip alone', 'Transfer-Encoding: gzip\r\n\r\n', msg.badRequestBody('bad_transfer_encoding')],
    ['TE gzip, chunked', 'Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n', msg.badRequestBody('bad_transfer_encoding')],
    ['TE empty', 'Transfer-Encoding: \r\n\r\n', msg.badRequestBody('bad_transfer_encoding')],
    ['two TE headers, gzip then chunked', 'Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', msg.badRequestBody('bad_transfer_encoding')],
    // refused by node:http's parser, answered by the edge
    ['TE chunked, identity', 'Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n', /not valid HTTP\/1\.1 \(.*Transfer-Encoding/],
    ['two TE headers, chunked twice', 'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', /not valid HTTP\/1\.1/],
    ['Content-Length with TE', 'Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', /not valid HTTP\/1\.1 \(.*Content-Length/],
    ['TE with Content-Length', 'Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n', /not valid HTTP\/1\.1/],
    ['conflicting Content-Length', 'Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!', /not valid HTTP\/1\.1 \(Duplicate Content-Length\)/],
    ['duplicate equal Content-Length', 'Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello', /Duplicate Content-Length/],
    ['Content-Length list', 'Content-Length: 5, 5\r\n\r\nhello', /not valid HTTP\/1\.1/],
    ['signed Content-Length', 'Content-Length: +5\r\n\r\nhello', /not valid HTTP\/1\.1/],
  ];
  for (const [name, headers, body] of framing) {
    it(`answers ${name} 400, closes, and sends nothing upstream`, async () => {
      const seen = blog.seen.length;
      const r = await rawRequest(port, `POST /echo HTTP/1.1\r\nHost: blog.localhost\r\n${headers}${smuggled}`);
      assertRouterMade(r, 400, body);
      assert.equal(r.raw.match(/HTTP\/1\.1 \d{3} /g)?.length, 1, 'exactly one response');
      assert.equal(blog.seen.length, seen, `the upstream saw ${JSON.stringify(blog.seen.slice(seen).map((x) => x.url))}`);
    });
  }

  it('answers Transfer-Encoding in HTTP/1.0 400', async () => {
    const r = await rawRequest(port, 'POST /echo HTTP/1.0\r\nHost: blog.localhost\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
    assertRouterMade(r, 400, msg.badRequestBody('http10_transfer_encoding'));
  });

  it('forwards a plain chunked body, as chunked', async () => {
    const seen = blog.seen.length;
    const r = await rawRequest(port, 'POST /echo HTTP/1.1\r\nHost: blog.localhost\r\nTransfer-Encoding: Chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n');
    assert.equal(r.status, 200);
    assert.match(r.body, /hello/);
    assert.equal(blog.seen[seen].headers['transfer-encoding'], 'chunked');
  });

  it('routes an absolute-form target by its authority, not Host, and forwards the origin form', async () => {
    const seenBlog = blog.seen.length;
    const seenOther = other.seen.length;
    const r = await rawRequest(port, 'GET http://other.localhost/p?q=1 HTTP/1.1\r\nHost: blog.localhost\r\nConnection: close\r\n\r\n');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'other1 GET /p?q=1');
    assert.equal(blog.seen.length, seenBlog);
    const got = other.seen[seenOther];
    assert.equal(got.url, '/p?q=1');
    assert.equal(got.headers['host'], 'other.localhost');
    assert.equal(got.headers['x-forwarded-host'], 'other.localhost');
  });

  it('answers absolute-form targets it cannot use 400, and HTTP/1.1 without Host 400 in its own words', async () => {
    assertRouterMade(await rawRequest(port, 'GET ftp://other.localhost/ HTTP/1.1\r\nHost: blog.localhost\r\n\r\n'), 400);
    const userinfo = await rawRequest(port, 'GET http://me@other.localhost/ HTTP/1.1\r\nHost: other.localhost\r\n\r\n');
    assertRouterMade(userinfo, 400, msg.badRequestBody('bad_target'));
    const noHost = await rawRequest(port, 'GET http://other.localhost/ HTTP/1.1\r\nConnection: close\r\n\r\n');
    assert.equal(noHost.status, 400);
    assert.equal(noHost.body, msg.MISSING_HOST_BODY);
  });

  it('answers a Host with a non-numeric port 400', async () => {
    const r = await rawRequest(port, 'GET / HTTP/1.1\r\nHost: blog.localhost:8o\r\n\r\n');
    assertRouterMade(r, 400, /not a valid host\[:port\]/);
  });

  it('applies the same checks to an Upgrade request', async () => {
    const seen = blog.seen.length;
    const r = await rawRequest(port, 'GET /ws HTTP/1.1\r\nHost: blog.localhost\r\nHost: other.localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    assertRouterMade(r, 400, msg.badRequestBody('duplicate_host'));
    assert.equal(blog.seen.length, seen);
  });

  it('answers CONNECT 405 with Allow and a short body, then closes', async () => {
    const r = await rawRequest(port, 'CONNECT blog.localhost:443 HTTP/1.1\r\nHost: blog.localhost:443\r\n\r\n');
    assertRouterMade(r, 405, msg.CONNECT_BODY);
    assert.match(r.headers['allow'] ?? '', /^GET, HEAD, POST/);
    assert.doesNotMatch(r.headers['allow'] ?? '', /CONNECT/);
    assert.equal(router.clientStats().connects >= 1, true);
  });

  it('replaces client Forwarded, X-Real-IP and X-Forwarded-* with its own', async () => {
    const seen = blog.seen.length;
    const r = await rawRequest(
      port,
      'GET /fwd HTTP/1.1\r\nHost: blog.localhost\r\nForwarded: for=6.6.6.6;host=evil\r\nX-Real-IP: 6.6.6.6\r\n' +
        'X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: 7.7.7.7\r\nX-Forwarded-Host: evil.example\r\nX-Forwarded-Proto: https\r\nConnection: close\r\n\r\n',
    );
    assert.equal(r.status, 200);
    const raw = blog.seen[seen].rawHeaders;
    const values = (n: string) => raw.filter((_, i) => i % 2 === 1 && raw[i - 1].toLowerCase() === n);
    assert.deepEqual(values('forwarded'), ['for=127.0.0.1;host="blog.localhost";proto=http']);
    assert.deepEqual(values('x-real-ip'), ['127.0.0.1']);
    assert.deepEqual(values('x-forwarded-for'), ['127.0.0.1']);
    assert.deepEqual(values('x-forwarded-host'), ['blog.localhost']);
    assert.deepEqual(values('x-forwarded-proto'), ['http']);
  });

  it('answers heads the parser refuses with a clean 400 or 431 in its own words', async () => {
    const token = await rawRequest(port, 'GET / HTTP/1.1\r\nHost: blog.localhost\r\nBad Header: x\r\n\r\n');
    assertRouterMade(token, 400, /^The request is not valid HTTP\/1\.1 \(/);
    const big = await rawRequest(port, `GET / HTTP/1.1\r\nHost: blog.localhost\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    assertRouterMade(big, 431, /larger than 16 KB/);
    assert.ok(router.clientStats().malformed >= 2);
  });

  it('does not route a request pipelined behind one that asked to close (RFC 9112 §9.6)', async () => {
    const seen = blog.seen.length;
    const r = await rawRequest(port, 'GET /first HTTP/1.1\r\nHost: blog.localhost\r\nConnection: close\r\n\r\n' + smuggled);
    assert.equal(r.status, 200);
    assert.deepEqual(blog.seen.slice(seen).map((x) => x.url), ['/first']);
  });

  it('answers a good request with a broken one pipelined behind it, then closes without answering the broken one', async () => {
    const seen = blog.seen.length;
    const r = await rawRequest(port, 'GET /good HTTP/1.1\r\nHost: blog.localhost\r\n\r\nPOST /bad HTTP/1.1\r\nHost: blog.localhost\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab');
    assert.equal(r.status, 200);
    assert.equal(r.raw.match(/HTTP\/1\.1 \d{3} /g)?.length, 1);
    assert.deepEqual(blog.seen.slice(seen).map((x) => x.url), ['/good']);
  });

  it('still keeps well-formed connections alive', async () => {
    const r = await rawRequest(port, 'GET /a HTTP/1.1\r\nHost: blog.localhost\r\n\r\nGET /b HTTP/1.1\r\nHost: blog.localhost\r\nConnection: close\r\n\r\n');
    assert.equal(r.raw.match(/HTTP\/1\.1 200 OK/g)?.length, 2);
    assert.match(r.raw, /blog1 GET \/a/);
    assert.match(r.raw, /blog1 GET \/b/);
  });
});
