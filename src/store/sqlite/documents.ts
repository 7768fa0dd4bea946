import type { CollectionName } from '../store.ts';
import type { SqlValue } from './filter.ts';
import { COLUMN_READERS, TABLES } from './schema.ts';

type Doc = { _id: string } & Record<string, unknown>;

function withEpochDates(collection: CollectionName, doc: object): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...doc };
  for (const field of TABLES[collection].dates) {
    const value = copy[field];
    if (value instanceof Date) copy[field] = value.getTime();
  }
  return copy;
}

/** A document as JSON text, its dates as epoch milliseconds. */
export const encode = (collection: CollectionName, doc: object): string =>
  JSON.stringify(withEpochDates(collection, doc));

/** A document as its table row: id, the JSON text, then each indexed column's value. */
export function toRow(collection: CollectionName, doc: { _id: string }): SqlValue[] {
  const copy = withEpochDates(collection, doc);
  const row: SqlValue[] = [doc._id, JSON.stringify(copy)];
  for (const { read } of COLUMN_READERS[collection]) {
    const value = read(copy);
    row.push(value === undefined ? null : (value as SqlValue));
  }
  return row;
}

/** `(id, doc, c1, …)` and its placeholders, for a table's INSERT. */
export function rowShape(collection: CollectionName): { columns: string; placeholders: string } {
  const names = ['id', 'doc', ...COLUMN_READERS[collection].map((c) => c.column)];
  return { columns: names.join(', '), placeholders: names.map(() => '?').join(', ') };
}

/** The document back, its dates as Date objects again. */
export function decode<T = Doc>(collection: CollectionName, text: string): T {
  const doc = JSON.parse(text) as Record<string, unknown>;
  for (const field of TABLES[collection].dates) {
    const value = doc[field];
    if (typeof value === 'number') doc[field] = new Date(value);
  }
  return doc as T;
}

export const decodeAll = <T = Doc>(collection: CollectionName, rows: ReadonlyArray<Record<string, unknown>>): T[] =>
  rows.map((row) => decode<T>(collection, row.doc as string));
