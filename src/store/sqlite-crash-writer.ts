// Test fixture for sqlite-crash.test.ts: writes to a SQLite store in a tight loop and
// prints the number of each fully committed iteration, until it is killed.
// Usage: node sqlite-crash-writer.js FILE
import { isSummonError } from '../core/errors.js';
import { createSqliteStore } from './sqlite.js';

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: sqlite-crash-writer FILE\n');
  process.exit(2);
}
const store = await createSqliteStore(file);
try {
  await store.createApp('crash', Date.now());
} catch (e) {
  if (!isSummonError(e) || e.code !== 'conflict') throw e;
}
// A few KB per release so the WAL grows and auto-checkpoints run while we may be killed.
const padding = 'x'.repeat(4096);
for (let i = (await store.listReleases('crash')).length; ; i++) {
  const r = await store.createRelease(
    'crash',
    {
      status: 'ready',
      description: `iteration ${i}`,
      reason: padding,
      commit: null,
      artifactSha256: null,
      initrdSha256: null,
      manifest: null,
      buildManifest: null,
      configCipher: null,
    },
    Date.now(),
  );
  await store.appendEvent({ app: 'crash', type: 'crash.iteration', message: `iteration ${i}`, data: { version: r.version }, at: Date.now() });
  await store.putInstance({
    id: 'i-crash',
    app: 'crash',
    version: r.version,
    host: 'h1',
    state: 'healthy',
    address: '127.0.0.1',
    port: null,
    pid: process.pid,
    startedAt: null,
    healthyAt: null,
    restarts: i,
    reason: null,
    nextRetryAt: null,
    cpu: null,
    memoryBytes: null,
    updatedAt: Date.now(),
  });
  // Pipe writes to stdout are synchronous on Linux: once the parent reads this line,
  // the three writes above are committed.
  process.stdout.write(`${r.version}\n`);
}
