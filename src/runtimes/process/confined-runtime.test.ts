// The runtime contract again with every instance confined (isolation/confine.ts), as
// `summon up` runs them: the same behaviour seen from outside, through bwrap and a cgroup.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runRuntimeContract } from '../runtime.contract.js';
import { ProcessRuntime } from './process-runtime.js';
import { Confiner } from '../../isolation/confine.js';

const tinyApp = fileURLToPath(new URL('../../../../test/fixtures/tiny-app.mjs', import.meta.url));
const data = await mkdtemp(join(tmpdir(), 'summon-confined-rt-'));
after(() => rm(data, { recursive: true, force: true }));
const confiner = await Confiner.create(data);
if ('unavailable' in confiner) throw new Error(`confinement is unavailable here: ${confiner.unavailable}`);

runRuntimeContract('confined', {
  makeRuntime: (stateDir) => new ProcessRuntime({ stateDir, confiner }),
  baseSpec: () => ({
    app: 'contract', version: 1, target: 'process', artifactPath: tinyApp, args: ['--port', '{port}'],
    env: {}, guestPort: 8080, memoryBytes: 128 * 1024 * 1024,
  }),
  bootTimeoutMs: 10_000,
});
