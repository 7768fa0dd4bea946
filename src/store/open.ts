import type { Config } from '../config/config.ts';
import { openMongoStore } from './mongo/store.ts';
import { openEmbeddedStore } from './sqlite/store.ts';
import type { Store } from './store.ts';

/**
 * The configured store: MongoDB when `mongodb.uri` is set, else the embedded SQLite file in
 * data_dir. The server runs embedded operations in worker threads; admin commands inline.
 */
export async function openStore(config: Config, use: 'server' | 'admin'): Promise<Store> {
  if (config.mongodb.uri) return openMongoStore(config.mongodb.uri, config.mongodb.database);
  return openEmbeddedStore(config.data_dir, use === 'server' ? 'threads' : 'inline');
}
