import { fileURLToPath } from 'node:url';
import { runRuntimeContract } from '../runtime.contract.js';
import { ProcessRuntime } from './process-runtime.js';

const tinyApp = fileURLToPath(new URL('../../../../test/fixtures/tiny-app.mjs', import.meta.url));

runRuntimeContract('process', {
  makeRuntime: (stateDir) => new ProcessRuntime({ stateDir }),
  baseSpec: () => ({
    app: 'contract', version: 1, target: 'process', artifactPath: tinyApp, args: ['--port', '{port}'],
    env: {}, guestPort: 8080, memoryBytes: 64 * 1024 * 1024,
  }),
  bootTimeoutMs: 10_000,
});
