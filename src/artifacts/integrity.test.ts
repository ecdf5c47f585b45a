import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rollbackAdvice, rollbackTarget } from './integrity.js';

const r = (version: number, status: string, artifact: string, brokenReason: string | null = null, initrd: string | null = null) =>
  ({ version, status: status as 'live', artifactSha256: artifact, initrdSha256: initrd, brokenReason });

test('the rollback target is the newest intact release that served, sharing no blob with a broken one', () => {
  const list = [
    r(5, 'failed', 'e'),
    r(4, 'live', 'a', 'artifact of v4 altered'),
    r(3, 'superseded', 'a'), // a config change: same artifact as the broken v4
    r(2, 'superseded', 'b'),
    r(1, 'superseded', 'c'),
  ];
  assert.equal(rollbackTarget(list)?.version, 2);
  assert.equal(rollbackAdvice('web', list), 'roll back with `summon rollback -a web v2`');
  assert.equal(rollbackTarget([r(2, 'superseded', 'b', null, 'k'), r(3, 'live', 'c', 'initrd altered', 'k'), r(1, 'superseded', 'd')])?.version, 1,
    'a shared initrd counts too');
  assert.equal(rollbackTarget([r(1, 'live', 'a', 'altered')]), undefined);
  assert.match(rollbackAdvice('web', [r(1, 'live', 'a', 'altered')]), /^no earlier release is intact to roll back to: push a fix/);
});
