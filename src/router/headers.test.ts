import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { filterResponseHeaders, scanRequestHead } from './headers.js';

describe('scanRequestHead', () => {
  it('strips hop-by-hop headers, appends X-Forwarded-*, and finds host and body', () => {
    const h = scanRequestHead(
      ['Host', 'a.localhost', 'Connection', 'keep-alive, X-Drop', 'X-Drop', '1', 'TE', 'trailers', 'Upgrade', 'h2c',
        'X-Forwarded-For', '1.2.3.4', 'X-Forwarded-Proto', 'https', 'Content-Length', '5', 'Accept', '*/*'],
      '127.0.0.1',
      'http',
    );
    assert.equal(h.host, 'a.localhost');
    assert.equal(h.hasBody, true);
    assert.deepEqual(h.headers, ['Host', 'a.localhost', 'Content-Length', '5', 'Accept', '*/*',
      'X-Forwarded-For', '1.2.3.4, 127.0.0.1', 'X-Forwarded-Proto', 'http', 'X-Forwarded-Host', 'a.localhost']);
  });
  it('sees no body for Content-Length 0 or none, and a body for Transfer-Encoding', () => {
    assert.equal(scanRequestHead(['Host', 'x', 'Content-Length', '0'], undefined, 'http').hasBody, false);
    assert.equal(scanRequestHead(['Host', 'x'], undefined, 'http').hasBody, false);
    assert.equal(scanRequestHead(['Host', 'x', 'Transfer-Encoding', 'chunked'], undefined, 'http').hasBody, true);
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
