import { openMongoStore } from './mongo/store.ts';
import { openEmbeddedStore } from './sqlite/store.ts';
import type { Store } from './store.ts';

/** What opening the store reads of the configuration. */
export interface StoreSettings {
  data_dir: string;
  mongodb: { uri: string; database: string };
}

/**
 * The configured store: MongoDB when `mongodb.uri` is set, else the embedded SQLite file in
 * data_dir. The server runs embedded operations in worker threads; admin commands inline.
 */
export async function openStore(config: StoreSettings, use: 'server' | 'admin'): Promise<Store> {
  if (config.mongodb.uri) return openMongoStore(config.mongodb.uri, config.mongodb.database);
  return openEmbeddedStore(config.data_dir, use === 'server' ? 'threads' : 'inline');
}
