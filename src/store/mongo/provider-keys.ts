import type { Db } from 'mongodb';
import { COLLECTIONS, type ProviderKeyDoc, type ProviderKeyStore } from '../store.ts';

/** Users' own provider keys, sealed, one document per (user, provider). */
export class MongoProviderKeys implements ProviderKeyStore {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }
  get #docs() {
    return this.#db.collection<ProviderKeyDoc>(COLLECTIONS.providerKeys);
  }
  async upsert(doc: ProviderKeyDoc) {
    const { _id, created_at, user_id, provider, ...rest } = doc;
    await this.#docs.updateOne(
      { user_id, provider },
      { $set: rest, $setOnInsert: { _id, created_at } },
      { upsert: true },
    );
  }
  get(userId: string, provider: string) {
    return this.#docs.findOne({ user_id: userId, provider });
  }
  list(userId?: string) {
    return this.#docs.find(userId ? { user_id: userId } : {}, { sort: { user_id: 1, provider: 1 } }).toArray();
  }
  async delete(userId: string, provider: string) {
    return (await this.#docs.deleteOne({ user_id: userId, provider })).deletedCount === 1;
  }
  async deleteForUser(userId: string) {
    return (await this.#docs.deleteMany({ user_id: userId })).deletedCount;
  }
}
