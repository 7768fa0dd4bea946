import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { CollectionName } from '../store.ts';
import type { SqlValue } from './filter.ts';
import { decode, rowShape, toRow } from './rows.ts';

export type Row = Record<string, SqlValue>;

const SQLITE_CONSTRAINT_UNIQUE = 2067;
const SQLITE_CONSTRAINT_PRIMARYKEY = 1555;

export const isUnique = (err: unknown) => {
  const code = (err as { errcode?: number }).errcode;
  return code === SQLITE_CONSTRAINT_UNIQUE || code === SQLITE_CONSTRAINT_PRIMARYKEY;
};

/** Ids as one bound parameter, for `IN (SELECT value FROM json_each(?))`. */
export const idList = (ids: readonly string[]): string => JSON.stringify(ids);

/**
 * One SQLite connection as every sub-store uses it: statements prepared once per text, and
 * the row operations they share.
 */
export class Sql {
  readonly db: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();

  constructor(db: DatabaseSync) {
    this.db = db;
  }

  #statement(text: string): StatementSync {
    let statement = this.#statements.get(text);
    if (!statement) {
      statement = this.db.prepare(text);
      this.#statements.set(text, statement);
    }
    return statement;
  }

  all(text: string, params: SqlValue[] = []): Row[] {
    return this.#statement(text).all(...params) as Row[];
  }

  get(text: string, params: SqlValue[] = []): Row | undefined {
    return this.#statement(text).get(...params) as Row | undefined;
  }

  /** `all`, bound: for the usage queries (usage.ts), which take a query function. */
  readonly query = (text: string, params: SqlValue[]): Row[] => this.all(text, params);

  run(text: string, params: SqlValue[] = []): number {
    return Number(this.#statement(text).run(...params).changes);
  }

  /** Several reads as of one moment (a count adds whole days to partial ones: no write between). */
  snapshot<T>(read: () => T): T {
    if (this.db.isTransaction) return read();
    this.db.exec('BEGIN');
    try {
      return read();
    } finally {
      this.db.exec('COMMIT');
    }
  }

  transaction<T>(work: () => T): T {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const result = work();
      this.db.exec('COMMIT');
      return result;
    } catch (err) {
      rollBack(this.db);
      throw err;
    }
  }

  insert(collection: CollectionName, doc: { _id: string }, ignoreExisting = true): number {
    const verb = ignoreExisting ? 'INSERT OR IGNORE' : 'INSERT';
    const { columns, placeholders } = rowShape(collection);
    return this.run(`${verb} INTO ${collection} (${columns}) VALUES (${placeholders})`, toRow(collection, doc));
  }

  find<T>(collection: CollectionName, id: string): T | null {
    const row = this.get(`SELECT doc FROM ${collection} WHERE id = ?`, [id]);
    return row ? decode<T>(collection, row.doc as string) : null;
  }

  replace(collection: CollectionName, doc: { _id: string }): void {
    const [id, text, ...values] = toRow(collection, doc);
    this.run(`UPDATE ${collection} SET ${rowShape(collection).assignments} WHERE id = ?`, [
      text ?? null,
      ...values,
      id ?? null,
    ]);
  }
}

/**
 * Ends a failed transaction, if SQLite has not already: on SQLITE_FULL, IOERR, BUSY or NOMEM it
 * may roll back by itself, and a ROLLBACK then throws "no transaction is active" — which must
 * never take the place of the error that caused it (the recorder tells a full disk by its code).
 */
export function rollBack(db: DatabaseSync): void {
  if (!db.isTransaction) return;
  try {
    db.exec('ROLLBACK');
  } catch {
    // The connection's state is SQLite's to sort out; the caller rethrows the original error.
  }
}
