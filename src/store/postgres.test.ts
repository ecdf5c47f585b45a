import { after, before } from 'node:test';
import { createTestDatabase, startTestPostgres, type TestPostgres } from './pg-harness.js';
import { createPostgresStore } from './postgres.js';
import { runStoreContract, type StoreSubject } from './store.contract.js';
import { runAccessContract } from './access.contract.js';
import type { Store } from './store.js';

let server: TestPostgres | undefined;
let startedAt = 0;
before(async () => {
  startedAt = Date.now();
  server = await startTestPostgres();
  console.log(`# test PostgreSQL ready in ${Date.now() - startedAt} ms`);
});
after(async () => {
  await server?.stop();
  console.log(`# PostgreSQL suite took ${Date.now() - startedAt} ms including server start and stop`);
});

const open = async (): Promise<StoreSubject> => {
  if (!server) throw new Error('test PostgreSQL did not start');
  const db = await createTestDatabase(server.url);
  const opened: Store[] = [];
  const store = await createPostgresStore(db.url);
  opened.push(store);
  return {
    store,
    async reopen() {
      const s = await createPostgresStore(db.url);
      opened.push(s);
      return s;
    },
    async cleanup() {
      for (const s of opened) await s.close();
      await db.drop();
    },
  };
};

runStoreContract('postgres', open);
runAccessContract('postgres', open);
