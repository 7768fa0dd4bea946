import type { Db } from 'mongodb';
import { COLLECTIONS, type RateStore } from '../store.ts';

interface RateWindowDoc {
  _id: string;
  holder: string;
  window: number;
  counts: Record<string, number>;
}

/** Per-user request counts per replica and minute window. */
export class MongoRates implements RateStore {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }
  get #docs() {
    return this.#db.collection<RateWindowDoc>(COLLECTIONS.rateWindows);
  }
  async publish(holder: string, window: number, counts: Record<string, number>) {
    // One writer per document (its replica), so a replace-upsert is safe on FerretDB too.
    const _id = `${holder}|${window}`;
    await this.#docs.replaceOne({ _id }, { holder, window, counts }, { upsert: true });
  }
  async others(holder: string, window: number) {
    const sums: Record<string, number> = {};
    for (const doc of await this.#docs.find({ window, holder: { $ne: holder } }).toArray()) {
      for (const [key, n] of Object.entries(doc.counts)) sums[key] = (sums[key] ?? 0) + n;
    }
    return sums;
  }
  async prune(window: number) {
    await this.#docs.deleteMany({ window: { $lt: window } });
  }
}
