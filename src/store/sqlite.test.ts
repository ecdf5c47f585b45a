import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSqliteStore } from './sqlite.js';
import { runStoreContract, type StoreSubject } from './store.contract.js';
import { runAccessContract } from './access.contract.js';
import type { Store } from './store.js';

const open = async (): Promise<StoreSubject> => {
  const dir = mkdtempSync(join(tmpdir(), 'summon-store-'));
  const file = join(dir, 'nested', 'summon.db');
  const opened: Store[] = [];
  const store = await createSqliteStore(file);
  opened.push(store);
  return {
    store,
    async reopen() {
      const s = await createSqliteStore(file);
      opened.push(s);
      return s;
    },
    async cleanup() {
      for (const s of opened) await s.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
};

runStoreContract('sqlite', open);
runAccessContract('sqlite', open);
