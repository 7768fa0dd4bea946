import type { Db } from 'mongodb';
import type { CollectionName, DocumentSink, DocumentSource } from '../store.ts';
import { type Entity, insertIgnoringDuplicates } from './writes.ts';

/** Whole collections in _id order, for `aibridge migrate`. */
export class MongoDocuments implements DocumentSource, DocumentSink {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }
  scan(collection: CollectionName, afterId: string | null, limit: number) {
    return this.#db
      .collection<Entity>(collection)
      .find(afterId === null ? {} : { _id: { $gt: afterId } })
      .sort({ _id: 1 })
      .limit(limit)
      .toArray();
  }
  estimate(collection: CollectionName) {
    return this.#db.collection(collection).estimatedDocumentCount();
  }
  async insertNew(collection: CollectionName, docs: ReadonlyArray<{ _id: string }>) {
    const existing = await insertIgnoringDuplicates(this.#db, collection, [...docs]);
    return docs.length - existing.length;
  }
}
