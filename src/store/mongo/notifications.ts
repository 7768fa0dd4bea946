import type { Db } from 'mongodb';
import { type BudgetNotificationDoc, COLLECTIONS, type NotificationStore } from '../store.ts';
import { isDuplicate } from './errors.ts';

/** Budget notifications: the insert of a unique _id (atomic on FerretDB too) decides which replica sends one. */
export class MongoNotifications implements NotificationStore {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }
  get #docs() {
    return this.#db.collection<BudgetNotificationDoc>(COLLECTIONS.budgetNotifications);
  }
  async claim(doc: BudgetNotificationDoc) {
    try {
      await this.#docs.insertOne(doc);
      return true;
    } catch (err) {
      if (isDuplicate(err)) return false;
      throw err;
    }
  }
  current(scopeIds: readonly string[], now: Date) {
    if (!scopeIds.length) return Promise.resolve([]);
    return this.#docs
      .find({ 'scope.id': { $in: [...scopeIds] }, resets_at: { $gt: now } })
      .sort({ created_at: -1, _id: -1 })
      .toArray();
  }
}
