import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { filterResponseHeaders, scanRequestHead } from './headers.js';

const scan = (raw: string[], url = '/', http10 = false, ip: string | undefined = '127.0.0.1') => scanRequestHead(raw, url, http10, ip, 'http');

describe('scanRequestHead', () => {
  it('strips hop-by-hop headers, sets the forwarding headers, and finds host and body', () => {
    const h = scan(['Host', 'a.localhost', 'Connection', 'keep-alive, X-Drop', 'X-Drop', '1', 'TE', 'trailers', 'Upgrade', 'h2c',
      'X-Forwarded-Proto', 'https', 'Content-Length', '5', 'Accept', '*/*']);
    assert.equal(h.host, 'a.localhost');
    assert.equal(h.hasBody, true);
    assert.equal(h.bad, null);
    assert.equal(h.path, '/');
    assert.deepEqual(h.headers, ['Host', 'a.localhost', 'Content-Length', '5', 'Accept', '*/*',
      'X-Forwarded-For', '127.0.0.1', 'X-Forwarded-Proto', 'http', 'X-Forwarded-Host', 'a.localhost',
      'X-Real-IP', '127.0.0.1', 'Forwarded', 'for=127.0.0.1;host="a.localhost";proto=http']);
  });
  it('drops client-supplied Forwarded, X-Forwarded-* and X-Real-IP instead of appending to them', () => {
    const h = scan(['Host', 'a.localhost', 'X-Forwarded-For', '10.0.0.9', 'x-forwarded-for', '10.0.0.8', 'Forwarded', 'for=6.6.6.6',
      'X-Real-IP', '6.6.6.6', 'X-Forwarded-Host', 'evil.example', 'X-Forwarded-Proto', 'https']);
    const names = h.headers.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    for (const n of ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-real-ip', 'forwarded']) {
      assert.equal(names.filter((x) => x === n).length, 1, n);
    }
    assert.ok(!h.headers.some((v) => v.includes('6.6.6.6') || v.includes('10.0.0.') || v === 'evil.example'));
  });
  it('quotes an IPv6 client in Forwarded', () => {
    const h = scan(['Host', 'a.localhost'], '/', false, '::1');
    assert.equal(h.headers[h.headers.indexOf('Forwarded') + 1], 'for="[::1]";host="a.localhost";proto=http');
  });
  it('sees no body for Content-Length 0 or none, and a body for Transfer-Encoding: chunked, forwarded in lower case', () => {
    assert.equal(scan(['Host', 'x', 'Content-Length', '0']).hasBody, false);
    assert.equal(scan(['Host', 'x']).hasBody, false);
    const te = scan(['Host', 'x', 'Transfer-Encoding', 'CHUNKED']);
    assert.equal(te.hasBody, true);
    assert.equal(te.bad, null);
    assert.equal(te.headers[te.headers.indexOf('Transfer-Encoding') + 1], 'chunked');
  });
  it('refuses a second Host header, even an empty one first', () => {
    assert.equal(scan(['Host', 'a.localhost', 'host', 'b.localhost']).bad, 'duplicate_host');
    assert.equal(scan(['Host', '', 'Host', 'a.localhost']).bad, 'duplicate_host');
  });
  it('refuses every Transfer-Encoding but one plain chunked, and any in HTTP/1.0', () => {
    for (const te of ['identity, chunked', 'gzip', 'gzip, chunked', 'identity', '', 'chunked;q=1']) {
      assert.equal(scan(['Host', 'x', 'Transfer-Encoding', te]).bad, 'bad_transfer_encoding', te);
    }
    assert.equal(scan(['Host', 'x', 'Transfer-Encoding', 'gzip', 'Transfer-Encoding', 'chunked']).bad, 'bad_transfer_encoding');
    assert.equal(scan(['Host', 'x', 'Transfer-Encoding', 'chunked', 'Transfer-Encoding', 'chunked']).bad, 'bad_transfer_encoding');
    assert.equal(scan(['Host', 'x', 'Transfer-Encoding', 'chunked'], '/', true).bad, 'http10_transfer_encoding');
  });
  it('routes an absolute-form target by its authority and forwards the origin form with Host replaced', () => {
    const h = scan(['Host', 'a.localhost', 'Accept', '*/*'], 'http://b.localhost:8080/x?y=1');
    assert.equal(h.bad, null);
    assert.equal(h.host, 'b.localhost:8080');
    assert.equal(h.path, '/x?y=1');
    assert.deepEqual(h.headers.slice(0, 4), ['Host', 'b.localhost:8080', 'Accept', '*/*']);
    assert.equal(h.headers[h.headers.indexOf('X-Forwarded-Host') + 1], 'b.localhost:8080');
    // HTTP/1.1 still needs a Host line; HTTP/1.0 may go without, and gets one built from the authority
    assert.equal(scan([], 'http://b.localhost/').host, undefined);
    const h10 = scan([], 'HTTP://b.localhost', true);
    assert.equal(h10.host, 'b.localhost');
    assert.equal(h10.path, '/');
    assert.deepEqual(h10.headers.slice(0, 2), ['Host', 'b.localhost']);
  });
  it('refuses absolute-form targets it cannot use', () => {
    for (const url of ['ftp://b.localhost/', 'http:///x', 'http://user@b.localhost/', 'b.localhost:80']) {
      assert.equal(scan(['Host', 'a.localhost'], url).bad, 'bad_target', url);
    }
    assert.equal(scan(['Host', 'a.localhost'], '*').bad, null);
  });
});

describe('filterResponseHeaders', () => {
  it('drops Connection, Keep-Alive and headers Connection names; keeps framing headers', () => {
    assert.deepEqual(
      filterResponseHeaders(['Content-Length', '3', 'Connection', 'keep-alive', 'Keep-Alive', 'timeout=5', 'X-A', '1']),
      ['Content-Length', '3', 'X-A', '1'],
    );
    assert.deepEqual(filterResponseHeaders(['Connection', 'X-A', 'X-A', '1', 'Transfer-Encoding', 'chunked']), ['Transfer-Encoding', 'chunked']);
  });
});
