// Every example's summon.toml is valid, and the MirageOS-style ones pass the boot arguments
// MirageOS's network stack expects for each VM target.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { parseManifest } from './manifest.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const examples = join(here, here.includes('/dist/') ? '../../../examples' : '../../examples');

test('every example summon.toml parses', async () => {
  // examples/ci holds CI definitions, not an app.
  const dirs = (await readdir(examples, { withFileTypes: true })).filter((d) => d.isDirectory() && d.name !== 'ci').map((d) => d.name);
  assert.ok(dirs.length >= 5, dirs.join(','));
  for (const d of dirs) parseManifest(await readFile(join(examples, d, 'summon.toml'), 'utf8'), `examples/${d}/summon.toml`);
});

test('a MirageOS-style manifest per VM target, with --ipv4={ip}/30 --ipv4-gateway={gateway}', async () => {
  for (const [dir, target] of [['mirage-qemu', 'qemu'], ['mirage-hvt', 'solo5-hvt'], ['mirage-spt', 'solo5-spt']] as const) {
    const m = parseManifest(await readFile(join(examples, dir, 'summon.toml'), 'utf8'));
    assert.equal(m.run.target, target, dir);
    assert.deepEqual(m.run.args, ['--ipv4={ip}/30', '--ipv4-gateway={gateway}'], dir);
  }
});
