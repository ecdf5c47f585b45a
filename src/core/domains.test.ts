import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkDomain, nameCovers, ownerOf } from './domains.js';

test('checkDomain: what an app may own, lower-cased, and each refusal with its reason', () => {
  const ok: [string, string][] = [
    ['www.example.com', 'www.example.com'],
    ['WWW.Example.COM', 'www.example.com'],
    ['example.com.', 'example.com'],
    ['  api.example.com ', 'api.example.com'],
    ['*.example.com', '*.example.com'],
    ['xn--bcher-kva.example', 'xn--bcher-kva.example'],
    ['bücher.example', 'xn--bcher-kva.example'],
    ['a-b.c-d.example.co.uk', 'a-b.c-d.example.co.uk'],
  ];
  for (const [raw, want] of ok) assert.equal(checkDomain(raw, ['localhost']), want, raw);
  const refused: [unknown, RegExp][] = [
    ['', /give a hostname/],
    [42, /give a hostname/],
    ['https://www.example.com/', /without the scheme: www\.example\.com/],
    ['www.example.com/path', /no path/],
    ['www.example.com:8080', /without a port \(www\.example\.com\)/],
    ['com', /at least two labels/],
    ['*.com', /two labels after it/],
    ['a.*.example.com', /whole first label/],
    ['*foo.example.com', /whole first label/],
    ['**.example.com', /whole first label/],
    ['-a.example.com', /hyphens/],
    ['a_b.example.com', /hyphens/],
    ['a..example.com', /empty label/],
    [`${'a'.repeat(64)}.example.com`, /longer than 63/],
    [`${'a.'.repeat(127)}com`, /at most 253/],
    ['10.0.0.1', /IP address/],
    ['[::1]', /IP address/],
    ['example.123', /all digits/],
    ['hello.localhost', /under localhost are how Summon serves apps/],
    ['localhost', /at least two labels|under localhost/],
    ['blog.apps.example.com', /under apps\.example\.com/],
    ['user@example.com', /no path, query, user/],
  ];
  for (const [raw, re] of refused) {
    assert.throws(() => checkDomain(raw, ['localhost', 'apps.example.com']), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'invalid_input');
      assert.match(e.message, re, String(raw));
      assert.match(e.message, /is not a domain an app can own/);
      return true;
    }, String(raw));
  }
});

test('nameCovers: a wildcard covers exactly one label more', () => {
  assert.equal(nameCovers('www.example.com', 'www.example.com'), true);
  assert.equal(nameCovers('*.example.com', 'www.example.com'), true);
  assert.equal(nameCovers('*.example.com', 'example.com'), false);
  assert.equal(nameCovers('*.example.com', 'a.b.example.com'), false);
  assert.equal(nameCovers('*.example.com', '*.example.com'), true);
  assert.equal(nameCovers('www.example.com', '*.example.com'), false);
  assert.equal(nameCovers('*.example.com', 'www.example.org'), false);
});

test('ownerOf: the exact name first, then the wildcard one label up', () => {
  const d = { 'www.example.com': 'site', '*.example.com': 'tenants', 'example.com': 'apex' };
  assert.equal(ownerOf(d, 'www.example.com'), 'site');
  assert.equal(ownerOf(d, 'acme.example.com'), 'tenants');
  assert.equal(ownerOf(d, 'example.com'), 'apex');
  assert.equal(ownerOf(d, 'a.b.example.com'), undefined);
  assert.equal(ownerOf(d, 'example.org'), undefined);
});
