import { createHash } from 'node:crypto';
import { inject } from 'vitest';
import { connectStore, ensureIndexes, type Store } from '../../src/store/mongo.ts';

export const mongoUri = () => inject('mongoUri');

/** A fresh database per test file (named from the given key), dropped first so runs start clean. */
export async function testStore(key: string): Promise<Store> {
  const name = `t_${createHash('sha1').update(key).digest('hex').slice(0, 16)}`;
  const store = await connectStore(mongoUri(), name);
  await store.db.dropDatabase();
  await ensureIndexes(store.db);
  return store;
}
