import type { InterceptionFilter } from '../store/store.ts';
import type { AuditQuery } from './query.ts';

/** What a caller resolved from `q` before the stores can take it. */
export interface ResolvedNames {
  /** The records the caller may see at all (empty: everyone's). */
  visible?: InterceptionFilter;
  /** The user `initiator` names. */
  initiatorId?: string;
  /** The members (visible to the caller) of the team `team` names, as the team is now. */
  teamMembers?: string[];
}

/** The `q` filter as the stores take it, with `initiator` and `team` already resolved to user ids. */
export function toFilter(query: AuditQuery, names: ResolvedNames = {}): InterceptionFilter {
  const { initiator: _named, session, team: _team, ...rest } = query;
  const filter: InterceptionFilter = { ...rest, ...names.visible };
  if (session !== undefined) filter.client_session_id = session;
  if (names.initiatorId !== undefined) {
    delete filter.initiator_ids;
    filter.initiator_id = names.initiatorId;
  }
  // Intersected by the store with an initiator named too.
  if (names.teamMembers !== undefined) filter.initiator_ids = names.teamMembers;
  for (const key of Object.keys(filter) as Array<keyof InterceptionFilter>)
    if (filter[key] === undefined) delete filter[key];
  return filter;
}
