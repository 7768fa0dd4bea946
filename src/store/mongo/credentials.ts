import type { Db } from 'mongodb';
import { COLLECTIONS, type CredentialDoc, type CredentialStore } from '../store.ts';

/** Per-user MCP headers, one document per (user, server). */
export class MongoCredentials implements CredentialStore {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }
  get #docs() {
    return this.#db.collection<CredentialDoc>(COLLECTIONS.mcpCredentials);
  }
  async upsert(doc: CredentialDoc) {
    const { _id, created_at, user_id, server, ...rest } = doc;
    await this.#docs.updateOne(
      { user_id, server },
      { $set: rest, $setOnInsert: { _id, created_at } },
      { upsert: true },
    );
  }
  get(userId: string, server: string) {
    return this.#docs.findOne({ user_id: userId, server });
  }
  list(userId?: string) {
    return this.#docs.find(userId ? { user_id: userId } : {}, { sort: { user_id: 1, server: 1 } }).toArray();
  }
  async delete(userId: string, server: string) {
    return (await this.#docs.deleteOne({ user_id: userId, server })).deletedCount === 1;
  }
  async deleteForUser(userId: string) {
    return (await this.#docs.deleteMany({ user_id: userId })).deletedCount;
  }
}
