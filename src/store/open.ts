import type { Config } from '../config/config.ts';
import { type EmbeddedDatabase, startEmbedded } from './embedded.ts';
import { connectStore, ensureIndexes, type Store } from './mongo.ts';

export interface OpenedStore extends Store {
  embedded?: EmbeddedDatabase;
}

/** Connects to the configured MongoDB, or to the embedded one of data_dir (starting it if needed). */
export async function openStore(config: Config, log: (line: string) => void = () => {}): Promise<OpenedStore> {
  let embedded: EmbeddedDatabase | undefined;
  let uri = config.mongodb.uri;
  if (!uri) {
    embedded = await startEmbedded(config.data_dir, log);
    uri = embedded.uri;
  }
  try {
    const store = await connectStore(uri, config.mongodb.database);
    await ensureIndexes(store.db);
    return {
      ...store,
      embedded,
      async close() {
        await store.close();
        await embedded?.stop();
      },
    };
  } catch (err) {
    await embedded?.stop();
    throw err;
  }
}
