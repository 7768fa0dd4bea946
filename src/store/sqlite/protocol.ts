import { DuplicateError } from '../store.ts';
import type { EmbeddedDatabase } from './database.ts';

/** One store call across a thread boundary: `group.method` and its arguments. */
export interface Request {
  id: number;
  method: string;
  args: unknown[];
}

interface SerializedError {
  name: string;
  message: string;
  /** SQLite's extended result code, when SQLite raised it. */
  errcode?: number;
}

/** A store call by name, wherever it runs (a worker thread, or inline). */
export type Call = (method: string, args: unknown[]) => Promise<unknown>;

export type Response = { id: number; value: unknown } | { id: number; error: SerializedError };

/** Runs a request against a connection; errors come back as data (they must cross a thread). */
export function run(database: EmbeddedDatabase, request: Request): Response {
  try {
    const [group, name] = request.method.split('.') as [string, string];
    const target = (database as unknown as Record<string, Record<string, (...args: unknown[]) => unknown>>)[group];
    const method = target?.[name];
    if (!method) throw new Error(`no store method ${request.method}`);
    return { id: request.id, value: method(...request.args) };
  } catch (err) {
    const { name, message, errcode } = err as Error & { errcode?: number };
    return {
      id: request.id,
      error: { name: err instanceof DuplicateError ? 'DuplicateError' : name, message, errcode },
    };
  }
}

/** An error from the other side, rebuilt so callers can tell duplicates and SQLite codes apart. */
export function revive(error: SerializedError): Error {
  const err = error.name === 'DuplicateError' ? new DuplicateError(error.message) : new Error(error.message);
  if (error.errcode !== undefined) Object.assign(err, { errcode: error.errcode });
  return err;
}
