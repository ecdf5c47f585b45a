import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HostParser } from './host-parser.js';

describe('HostParser', () => {
  const p = new HostParser(['localhost', 'apps.example.com']);
  it('finds the app under each domain, with or without a port, in any case', () => {
    assert.deepEqual(p.match('blog.localhost'), { kind: 'app', app: 'blog' });
    assert.deepEqual(p.match('blog.localhost:8080'), { kind: 'app', app: 'blog' });
    assert.deepEqual(p.match('My-App.Apps.Example.com'), { kind: 'app', app: 'my-app' });
    assert.deepEqual(p.match('blog.localhost.'), { kind: 'app', app: 'blog' });
  });
  it('rejects hosts outside the domains, nested names, bad names and IPv6 literals', () => {
    assert.equal(p.match('localhost').kind, 'foreign');
    assert.equal(p.match('a.b.localhost').kind, 'foreign');
    assert.equal(p.match('1abc.localhost').kind, 'foreign');
    assert.equal(p.match('blog.example.com').kind, 'foreign');
    assert.equal(p.match('[::1]:8080').kind, 'foreign');
    assert.equal(p.match(undefined).kind, 'missing');
  });
  it('keeps its cache bounded', () => {
    const small = new HostParser(['localhost'], 4);
    for (let i = 0; i < 10; i++) small.match(`a${i}.localhost`);
    assert.ok((small as unknown as { cache: Map<string, unknown> }).cache.size <= 4);
  });
  it('refuses bad domains', () => {
    assert.throws(() => new HostParser([]), /at least one/);
    assert.throws(() => new HostParser(['*.x']), /not a lower-case DNS name/);
  });
});

describe('HostParser: invalid hosts', () => {
  const p = new HostParser(['localhost']);
  it('calls a non-numeric port or characters outside a host name invalid, not foreign', () => {
    assert.equal(p.match('blog.localhost:8o80').kind, 'invalid');
    assert.equal(p.match('blog.localhost:1"x').kind, 'invalid');
    assert.equal(p.match('blog.local host').kind, 'invalid');
    assert.equal(p.match('blog"x.localhost').kind, 'invalid');
    assert.deepEqual(p.match('blog.localhost:'), { kind: 'app', app: 'blog' });
    assert.equal(p.match('example.org:80').kind, 'foreign');
  });
});
