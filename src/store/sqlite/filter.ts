import type { Cursor, InterceptionFilter } from '../store.ts';
import { filtersWork, urlMatch } from '../work.ts';
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
  if (filter.tool !== undefined) {
    terms.push('id IN (SELECT interception_id FROM tool_usages WHERE tool = ?)');
    params.push(filter.tool);
  }
  if (filtersWork(filter)) workTerm(filter, terms, params);
  return { terms, params };
}

/**
 * The work-context keys: interceptions whose session's context (or, without a session, whose
 * own) matches. Only `where` over interceptions has them: usage_days knows no sessions.
 */
function workTerm(filter: InterceptionFilter, terms: string[], params: SqlValue[]): void {
  const conditions: string[] = [];
  const values: SqlValue[] = [];
  for (const key of ['repo', 'branch'] as const) {
    if (filter[key] === undefined) continue;
    conditions.push(`${key} = ?`);
    values.push(filter[key]);
  }
  for (const [key, field] of [
    ['pr', 'pr_urls'],
    ['issue', 'issue_urls'],
  ] as const) {
    const value = filter[key];
    if (value === undefined) continue;
    const match = urlMatch(value);
    conditions.push(
      `EXISTS (SELECT 1 FROM json_each(work_contexts.doc, '$.${field}') WHERE value ${'exact' in match ? '= ?' : 'LIKE ?'})`,
    );
    values.push('exact' in match ? match.exact : `%/${match.number}`);
  }
  const matching = conditions.join(' AND ');
  terms.push(
    `(client_session_id IS NOT NULL AND (initiator_id, client_session_id) IN
       (SELECT initiator_id, client_session_id FROM work_contexts WHERE client_session_id IS NOT NULL AND ${matching})
     OR client_session_id IS NULL AND id IN
       (SELECT interception_id FROM work_contexts WHERE interception_id IS NOT NULL AND ${matching}))`,
  );
  params.push(...values, ...values);
}

const joined = (terms: string[], params: SqlValue[]): Where => ({
  sql: terms.length ? `WHERE ${terms.join(' AND ')}` : '',
  params,
});
