import type { Cursor, InterceptionFilter } from '../store.ts';
import type { DaySplit } from './rollup.ts';

export type SqlValue = string | number | null;

export interface Where {
  /** `WHERE …`, or '' when nothing is filtered. */
  sql: string;
  params: SqlValue[];
}

const EQUAL_KEYS = ['initiator_id', 'provider', 'provider_name', 'model', 'client', 'client_session_id'] as const;

/** The audit filter as SQL over the generated columns (each has an index ending in the page order). */
export function where(filter: InterceptionFilter, after?: Cursor, extra: string[] = []): Where {
  const { terms, params } = keyTerms(filter, 'status IS NULL', extra);
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
  return joined(terms, params);
}

/** The same filter over usage_days (its time range already cut to whole days). */
export function dayWhere(filter: InterceptionFilter, days: DaySplit['days'], extra: string[] = []): Where {
  const { terms, params } = keyTerms(filter, "status = ''", extra);
  if (days.first !== null) {
    terms.push('day >= ?');
    params.push(days.first);
  }
  if (days.last !== null) {
    terms.push('day <= ?');
    params.push(days.last);
  }
  return joined(terms, params);
}

function keyTerms(filter: InterceptionFilter, running: string, extra: string[]) {
  const terms: string[] = [...extra];
  const params: SqlValue[] = [];
  if (filter.initiator_ids !== undefined) {
    terms.push('initiator_id IN (SELECT value FROM json_each(?))');
    params.push(JSON.stringify(filter.initiator_ids));
  }
  for (const key of EQUAL_KEYS) {
    const value = filter[key];
    if (value !== undefined) {
      terms.push(`${key} = ?`);
      params.push(value);
    }
  }
  if (filter.status === 'running') terms.push(running);
  else if (filter.status) {
    terms.push('status = ?');
    params.push(filter.status);
  }
  return { terms, params };
}

const joined = (terms: string[], params: SqlValue[]): Where => ({
  sql: terms.length ? `WHERE ${terms.join(' AND ')}` : '',
  params,
});
