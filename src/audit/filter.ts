import type { InterceptionFilter } from '../store/store.ts';
import type { AuditQuery } from './query.ts';

/** The `q` filter as the stores take it, `initiator` already resolved to a user id (or none). */
export function toFilter(query: AuditQuery, initiatorId: string | undefined): InterceptionFilter {
  const { initiator: _named, session, ...rest } = query;
  const filter: InterceptionFilter = { ...rest, initiator_id: initiatorId };
  if (session !== undefined) filter.client_session_id = session;
  for (const key of Object.keys(filter) as Array<keyof InterceptionFilter>)
    if (filter[key] === undefined) delete filter[key];
  return filter;
}
