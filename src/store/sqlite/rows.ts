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

interface RowShape {
  /** `id, doc, c1, …` and its `?, ?, …`, for an INSERT. */
  columns: string;
  placeholders: string;
  /** `doc = ?, c1 = ?, …`, for an UPDATE of the whole row. */
  assignments: string;
}

/** Each table's row shape, written once (the SQL text is also the prepared statement's key). */
const ROW_SHAPES = Object.fromEntries(
  Object.entries(COLUMN_READERS).map(([collection, readers]) => {
    const names = ['id', 'doc', ...readers.map((c) => c.column)];
    const shape: RowShape = {
      columns: names.join(', '),
      placeholders: names.map(() => '?').join(', '),
      assignments: names
        .slice(1)
        .map((name) => `${name} = ?`)
        .join(', '),
    };
    return [collection, shape];
  }),
) as Record<CollectionName, RowShape>;

export const rowShape = (collection: CollectionName): RowShape => ROW_SHAPES[collection];

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
