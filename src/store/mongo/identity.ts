import type { AnyBulkWriteOperation, Db } from 'mongodb';
import {
  type ApiKeyDoc,
  COLLECTIONS,
  DuplicateError,
  type IdentityStore,
  type UserDoc,
  type UserPatch,
} from '../store.ts';
import { isDuplicate } from './errors.ts';
import { bulkInChunks, type Entity } from './writes.ts';

/** Users and their API keys. */
export class MongoIdentity implements IdentityStore {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }
  get #users() {
    return this.#db.collection<UserDoc>(COLLECTIONS.users);
  }
  get #keys() {
    return this.#db.collection<ApiKeyDoc>(COLLECTIONS.apiKeys);
  }

  async createUser(user: UserDoc) {
    try {
      await this.#users.insertOne(user);
    } catch (err) {
      if (isDuplicate(err)) throw new DuplicateError(`user "${user.username}" already exists`);
      throw err;
    }
  }
  users(options?: { includeDeleted?: boolean }) {
    return this.#users.find(options?.includeDeleted ? {} : { deleted_at: null }, { sort: { username: 1 } }).toArray();
  }
  countUsers() {
    return this.#users.countDocuments({});
  }
  userById(id: string) {
    return this.#users.findOne({ _id: id });
  }
  userByUsername(username: string) {
    return this.#users.findOne({ username });
  }
  usersByIds(ids: readonly string[]) {
    return ids.length ? this.#users.find({ _id: { $in: [...ids] } }).toArray() : Promise.resolve([]);
  }
  async updateUser(id: string, patch: UserPatch) {
    return (await this.#users.updateOne({ _id: id }, { $set: patch })).matchedCount === 1;
  }
  async createKey(key: ApiKeyDoc) {
    try {
      await this.#keys.insertOne(key);
    } catch (err) {
      if (isDuplicate(err)) throw new DuplicateError('a token with this id or hash already exists');
      throw err;
    }
  }
  keyByHash(hash: string) {
    return this.#keys.findOne({ hash });
  }
  keyById(id: string) {
    return this.#keys.findOne({ _id: id });
  }
  keys(userId?: string) {
    return this.#keys
      .find(userId ? { user_id: userId } : {})
      .sort(userId ? { created_at: 1, _id: 1 } : { user_id: 1, created_at: 1, _id: 1 })
      .toArray();
  }
  async revokeKeys(ids: readonly string[], at: Date) {
    if (!ids.length) return 0;
    return (await this.#keys.updateMany({ _id: { $in: [...ids] }, revoked_at: null }, { $set: { revoked_at: at } }))
      .modifiedCount;
  }
  async touchKeys(lastUsed: ReadonlyArray<readonly [string, Date]>) {
    const updates: AnyBulkWriteOperation<Entity>[] = lastUsed.map(([id, at]) => ({
      updateOne: {
        filter: { _id: id, $or: [{ last_used_at: null }, { last_used_at: { $lt: at } }] },
        update: { $set: { last_used_at: at } },
      },
    }));
    await bulkInChunks(this.#db, COLLECTIONS.apiKeys, updates);
  }
  async pruneKeys(before: Date) {
    const { deletedCount } = await this.#keys.deleteMany({
      kind: 'console',
      $or: [{ expires_at: { $lt: before } }, { revoked_at: { $lt: before } }],
    });
    return deletedCount;
  }
}
