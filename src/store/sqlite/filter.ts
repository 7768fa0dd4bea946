import type { Cursor, InterceptionFilter } from '../store.ts';

export type SqlValue = string | number | null;

export interface Where {
  /** `WHERE …`, or '' when nothing is filtered. */
  sql: string;
  params: SqlValue[];
}

const EQUAL_KEYS = ['initiator_id', 'provider', 'provider_name', 'model', 'client', 'client_session_id'] as const;

/** The audit filter as SQL over the generated columns (each has an index ending in the page order). */
export function where(filter: InterceptionFilter, after?: Cursor, extra: string[] = []): Where {
  const terms: string[] = [...extra];
  const params: SqlValue[] = [];
  for (const key of EQUAL_KEYS) {
    const value = filter[key];
    if (value !== undefined) {
      terms.push(`${key} = ?`);
      params.push(value);
    }
  }
  if (filter.status === 'running') terms.push('status IS NULL');
  else if (filter.status) {
    terms.push('status = ?');
    params.push(filter.status);
  }
  if (filter.started_after) {
    terms.push('started_at > ?');
    params.push(filter.started_after.getTime());
  }
  if (filter.started_before) {
    terms.push('started_at < ?');
    params.push(filter.started_before.getTime());
  }
  if (after) {
    // A row value comparison walks the (…, started_at, id) index from the cursor on.
    terms.push('(started_at, id) < (?, ?)');
    params.push(after.started_at.getTime(), after._id);
  }
  return { sql: terms.length ? `WHERE ${terms.join(' AND ')}` : '', params };
}
