import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAbsoluteTarget } from './request-target.js';

describe('parseAbsoluteTarget', () => {
  it('splits http and https targets into authority and origin form', () => {
    assert.deepEqual(parseAbsoluteTarget('http://blog.localhost/x?y=1'), { authority: 'blog.localhost', path: '/x?y=1' });
    assert.deepEqual(parseAbsoluteTarget('HTTPS://Blog.localhost:8443'), { authority: 'Blog.localhost:8443', path: '/' });
    assert.deepEqual(parseAbsoluteTarget('http://blog.localhost?q'), { authority: 'blog.localhost', path: '/?q' });
    assert.deepEqual(parseAbsoluteTarget('http://blog.localhost/a#frag'), { authority: 'blog.localhost', path: '/a' });
  });
  it('refuses other schemes, an empty authority and user info', () => {
    assert.equal(parseAbsoluteTarget('ftp://blog.localhost/'), undefined);
    assert.equal(parseAbsoluteTarget('http://'), undefined);
    assert.equal(parseAbsoluteTarget('http:///x'), undefined);
    assert.equal(parseAbsoluteTarget('http://me:pw@blog.localhost/'), undefined);
    assert.equal(parseAbsoluteTarget('blog.localhost:443'), undefined);
  });
});
