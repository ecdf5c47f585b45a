import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkRefUpdates } from './hook.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const Z = '0'.repeat(40);

test('main and master are accepted', () => {
  assert.deepEqual(checkRefUpdates(`${A} ${B} refs/heads/main\n`), { update: { oldRev: A, newRev: B, ref: 'refs/heads/main' } });
  assert.deepEqual(checkRefUpdates(`${Z} ${B} refs/heads/master\n`), { update: { oldRev: Z, newRev: B, ref: 'refs/heads/master' } });
});

test('other refs are refused with the way to deploy them', () => {
  const r = checkRefUpdates(`${A} ${B} refs/heads/feature/x\n`);
  assert.ok('refuse' in r);
  assert.match(r.refuse, /refusing to update refs\/heads\/feature\/x/);
  assert.match(r.refuse, /git push summon feature\/x:main/);
  assert.ok('refuse' in checkRefUpdates(`${Z} ${B} refs/tags/v1\n`));
});

test('deleting main is refused', () => {
  const r = checkRefUpdates(`${A} ${Z} refs/heads/main\n`);
  assert.ok('refuse' in r);
  assert.match(r.refuse, /deleting refs\/heads\/main is not allowed/);
});

test('a push mixing main with another branch is refused as a whole', () => {
  assert.ok('refuse' in checkRefUpdates(`${A} ${B} refs/heads/main\n${A} ${B} refs/heads/dev\n`));
  assert.match((checkRefUpdates(`${A} ${B} refs/heads/main\n${A} ${B} refs/heads/master\n`) as { refuse: string }).refuse, /not both/);
});

test('empty or malformed input is refused', () => {
  assert.ok('refuse' in checkRefUpdates(''));
  assert.ok('refuse' in checkRefUpdates('garbage\n'));
});
