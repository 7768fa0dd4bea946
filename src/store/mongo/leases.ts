import type { Db } from 'mongodb';
import { COLLECTIONS, type LeaseStore } from '../store.ts';
import { isDuplicate } from './errors.ts';

interface LeaseDoc {
  _id: string;
  holder: string;
  until: Date;
}

/** Named leases (one purger at a time). */
export class MongoLeases implements LeaseStore {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }
  /**
   * Insert-first, because a unique _id is the one compare-and-set both MongoDB and FerretDB
   * make atomic (FerretDB evaluates an update's filter and writes in separate steps): a
   * released lease is absent, so racers meet on the insert and one wins. An expired lease is
   * deleted — that exact version only — and the insert tried again.
   */
  async acquire(name: string, holder: string, ms: number, now = new Date()) {
    const leases = this.#db.collection<LeaseDoc>(COLLECTIONS.leases);
    const until = new Date(now.getTime() + ms);
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await leases.insertOne({ _id: name, holder, until });
        return true;
      } catch (err) {
        if (!isDuplicate(err)) throw err;
      }
      const current = await leases.findOne({ _id: name });
      if (!current) continue;
      if (current.holder === holder) {
        return (await leases.updateOne({ _id: name, holder }, { $set: { until } })).matchedCount === 1;
      }
      if (current.until > now) return false;
      await leases.deleteOne({ _id: name, holder: current.holder, until: current.until });
    }
    return false;
  }
  async release(name: string, holder: string) {
    await this.#db.collection<LeaseDoc>(COLLECTIONS.leases).deleteOne({ _id: name, holder });
  }
}
