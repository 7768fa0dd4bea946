import type { CollectionName } from '../store.ts';
import type { Sync } from './protocol.ts';
import { decodeAll } from './rows.ts';
import type { Sql } from './sql.ts';

/** Whole collections in _id order, for `aibridge migrate`. */
export class EmbeddedDocuments implements Sync<'documents'> {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  scan(collection: CollectionName, afterId: string | null, limit: number): Array<{ _id: string }> {
    return decodeAll<{ _id: string }>(
      collection,
      this.#sql.all(`SELECT doc FROM ${collection} WHERE id > ? ORDER BY id LIMIT ?`, [afterId ?? '', limit]),
    );
  }

  estimate(collection: CollectionName): number {
    return this.#sql.get(`SELECT count(*) AS n FROM ${collection}`)?.n as number;
  }

  insertNew(collection: CollectionName, docs: ReadonlyArray<{ _id: string }>): number {
    return this.#sql.transaction(() => docs.reduce((n, doc) => n + this.#sql.insert(collection, doc), 0));
  }
}
