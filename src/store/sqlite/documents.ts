import type { CollectionName } from '../store.ts';
import { TABLES } from './schema.ts';

type Doc = { _id: string } & Record<string, unknown>;

/** A document as JSON text, its dates as epoch milliseconds (what the generated columns index). */
export function encode(collection: CollectionName, doc: object): string {
  const dates = TABLES[collection].dates;
  const copy: Record<string, unknown> = { ...doc };
  for (const field of dates) {
    const value = copy[field];
    if (value instanceof Date) copy[field] = value.getTime();
  }
  return JSON.stringify(copy);
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
