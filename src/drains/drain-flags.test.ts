import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isSummonError } from '../core/errors.js';
import { makeTestCerts } from '../testing/test-certs.js';
import { drainFlags, readDrainCa } from './drain-flags.js';

test('--drain-ca is read and checked before anything starts; --drains-allow-private passes through', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'summon-drain-ca-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const certs = await makeTestCerts(dir);
  assert.deepEqual(drainFlags({}), {});
  assert.deepEqual(drainFlags({ drainsAllowPrivate: true }), { drains: { allowPrivate: true } });
  assert.equal(drainFlags({ drainCa: certs.caFile }).drains?.ca?.trim(), certs.ca.trim());
  const refused = (f: () => unknown, re: RegExp) => assert.throws(f, (e) => isSummonError(e) && e.code === 'invalid_input' && re.test(e.message));
  refused(() => readDrainCa(join(dir, 'missing.pem')), /--drain-ca .*missing\.pem cannot be read/);
  await writeFile(join(dir, 'key-only.pem'), certs.key);
  refused(() => readDrainCa(join(dir, 'key-only.pem')), /holds no PEM certificate/);
  await writeFile(join(dir, 'broken.pem'), '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
  refused(() => readDrainCa(join(dir, 'broken.pem')), /certificate 1 does not parse/);
  // a bundle: every certificate kept
  await writeFile(join(dir, 'bundle.pem'), `${certs.ca}\n${certs.cert}`);
  assert.equal(readDrainCa(join(dir, 'bundle.pem')).match(/BEGIN CERTIFICATE/g)?.length, 2);
});
