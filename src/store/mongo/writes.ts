import type { AnyBulkWriteOperation, Db, Document } from 'mongodb';
import { DUPLICATE_KEY, isDuplicate } from './errors.ts';

/** FerretDB 1.24 stalls on an update command of 100 or more statements, so bulk updates go in chunks. */
const UPDATE_CHUNK = 50;

export type Entity = { _id: string };

/**
 * Inserts documents, ignoring those whose _id exists; returns the ones that met an existing
 * _id. Existing ids are looked up first, so a replayed batch inserts only what is missing:
 * FerretDB 1.24 can drop the connection answering an unordered insert with several
 * duplicate-key errors, and a retried batch must never meet that.
 */
export async function insertIgnoringDuplicates<T extends Entity>(db: Db, collection: string, docs: T[]): Promise<T[]> {
  if (!docs.length) return [];
  const found = await db
    .collection<Entity>(collection)
    .find({ _id: { $in: docs.map((d) => d._id) } }, { projection: { _id: 1 } })
    .toArray();
  const existing = new Set(found.map((d) => d._id));
  const fresh = docs.filter((d) => !existing.has(d._id));
  const met = docs.filter((d) => existing.has(d._id));
  if (!fresh.length) return met;
  try {
    await db.collection<Document>(collection).insertMany(fresh as Document[], { ordered: false });
    return met;
  } catch (err) {
    // Another writer got there in between: its copies count as already written.
    const writeErrors = (
      err as { writeErrors?: Array<{ code: number; index: number }> | { code: number; index: number } }
    ).writeErrors;
    const errors = Array.isArray(writeErrors) ? writeErrors : writeErrors ? [writeErrors] : [];
    if (!errors.length) {
      if (isDuplicate(err) && fresh.length === 1) return [...met, ...fresh];
      throw err;
    }
    if (errors.some((e) => e.code !== DUPLICATE_KEY)) throw err;
    return [...met, ...errors.map((e) => fresh[e.index] as T)];
  }
}

/** Ordered updates; a field whose value is undefined is left out, as the embedded store leaves it. */
export async function bulkInChunks(
  db: Db,
  collection: string,
  updates: AnyBulkWriteOperation<Entity>[],
): Promise<void> {
  for (let i = 0; i < updates.length; i += UPDATE_CHUNK) {
    await db
      .collection<Entity>(collection)
      .bulkWrite(updates.slice(i, i + UPDATE_CHUNK), { ordered: true, ignoreUndefined: true });
  }
}
