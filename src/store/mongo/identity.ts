import type { AnyBulkWriteOperation, Db } from 'mongodb';
import {
  type ApiKeyDoc,
  COLLECTIONS,
  DuplicateError,
  type IdentityStore,
  removesAnOwner,
  type UserDoc,
  type UserPatch,
  type UserUpdate,
} from '../store.ts';
import { isDuplicate } from './errors.ts';
import { UserChangeLog, type UserChangeLogOptions } from './user-changes.ts';
import { bulkInChunks, type Entity } from './writes.ts';

/** Matches a username in any case; null for text no username could match (usernames are ASCII). */
function inAnyCase(text: string): RegExp | null {
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(text)) return null;
  return new RegExp(`^${text.replaceAll('.', '\\.')}$`, 'i');
}

/**
 * Users and their API keys. Every write to users goes through one log (user-changes.ts), so a
 * username free in any case and an owner left after a change are decided atomically on MongoDB
 * and FerretDB alike.
 */
export class MongoIdentity implements IdentityStore {
  readonly #db: Db;
  readonly #log: UserChangeLog;
  constructor(db: Db, options: UserChangeLogOptions = {}) {
    this.#db = db;
    this.#log = new UserChangeLog(db, this.#users, options);
  }
  get #users() {
    return this.#db.collection<UserDoc>(COLLECTIONS.users);
  }
  get #keys() {
    return this.#db.collection<ApiKeyDoc>(COLLECTIONS.apiKeys);
  }

  async createUser(user: UserDoc) {
    const taken = await this.#log.run<boolean>(async () =>
      (await this.#users.findOne({ username: inAnyCase(user.username) ?? user.username }, { projection: { _id: 1 } }))
        ? { refused: true }
        : { change: { op: 'create', doc: user }, result: false },
    );
    if (taken) throw new DuplicateError(`user "${user.username}" already exists`);
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
  async userByUsername(username: string) {
    const exact = await this.#users.findOne({ username });
    if (exact) return exact;
    const pattern = inAnyCase(username);
    if (!pattern) return null;
    const folded = await this.#users.find({ username: pattern }, { limit: 2 }).toArray();
    return folded.length === 1 ? (folded[0] as UserDoc) : null;
  }
  usersByIds(ids: readonly string[]) {
    return ids.length ? this.#users.find({ _id: { $in: [...ids] } }).toArray() : Promise.resolve([]);
  }
  updateUser(id: string, patch: UserPatch) {
    return this.#log.run<UserUpdate>(async () => {
      const user = await this.#users.findOne({ _id: id });
      if (!user) return { refused: 'no-user' };
      if (removesAnOwner(user, patch) && !(await this.#anotherOwner(id))) return { refused: 'last-owner' };
      return { change: { op: 'update', id, patch }, result: 'updated' };
    });
  }
  async #anotherOwner(id: string) {
    const filter = { _id: { $ne: id }, role: 'owner' as const, disabled_at: null, deleted_at: null };
    return (await this.#users.findOne(filter, { projection: { _id: 1 } })) !== null;
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
