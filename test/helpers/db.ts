import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Db } from 'mongodb';
import { inject } from 'vitest';
import { ensureIndexes } from '../../src/store/mongo/indexes.ts';
import { openMongoStore } from '../../src/store/mongo/store.ts';
import { openEmbeddedStore } from '../../src/store/sqlite/store.ts';
import type { Store } from '../../src/store/store.ts';

export const mongoUri = () => inject('mongoUri');

export const STORE_KINDS = ['embedded', 'mongodb'] as const;
export type StoreKind = (typeof STORE_KINDS)[number];

/** A store for tests; `db` is set for MongoDB so tests can look under the hood. */
export type TestStore = Store & { db?: Db; dataDir?: string };

/** A fresh MongoDB database named from `key`, dropped first so runs start clean. */
export async function testMongoStore(key: string): Promise<Store & { db: Db }> {
  const name = `t_${createHash('sha1').update(key).digest('hex').slice(0, 16)}`;
  const store = await openMongoStore(mongoUri(), name, 30_000);
  await store.db.dropDatabase();
  await ensureIndexes(store.db);
  return store;
}

/** A fresh embedded store in a temporary data_dir, removed on close. */
export function testEmbeddedStore(mode: 'threads' | 'inline' = 'threads'): TestStore {
  const dataDir = mkdtempSync(join(tmpdir(), 'aibridge-store-'));
  const store = openEmbeddedStore(dataDir, mode);
  return {
    ...store,
    dataDir,
    async close() {
      await store.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function testStore(kind: StoreKind, key: string): Promise<TestStore> {
  return kind === 'mongodb' ? testMongoStore(key) : testEmbeddedStore();
}
