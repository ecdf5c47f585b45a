import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkAppName, checkHostId } from './names.js';
import { InvalidNameError } from './errors.js';

test('app names are DNS labels: a letter first, a letter or digit last, at most 30', () => {
  for (const ok of ['a', 'hello', 'a1', 'my-app-2', 'xn--bcher-kva', 'a'.repeat(30)]) assert.equal(checkAppName(ok), ok);
  for (const bad of ['a--', 'a-', '-a', '1app', 'Hello', 'a_b', '', 'a'.repeat(31), 'a.b']) {
    assert.throws(() => checkAppName(bad), (e: unknown) => e instanceof InvalidNameError && /ending with a letter or digit/.test(e.message), bad);
  }
  assert.throws(() => checkHostId('edge-'), /host id "edge-" is not allowed/);
});

test('a name that is not a string is refused as such (regression: ["hello"] read as "hello")', () => {
  assert.throws(() => checkAppName(['hello']), (e: unknown) => e instanceof InvalidNameError && /app name "\[\\"hello\\"\]" is not allowed: app name must be a string/.test(e.message));
  assert.throws(() => checkAppName(undefined), /app name "undefined" is not allowed: app name must be a string/);
  assert.throws(() => checkAppName(42), /must be a string/);
});
