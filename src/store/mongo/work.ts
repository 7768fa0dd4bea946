import type { Db, Filter } from 'mongodb';
import type { InterceptionRecord } from '../records.ts';
import { COLLECTIONS, type InterceptionFilter, TooBroadError, type WorkContext } from '../store.ts';
import { filtersWork, urlMatch } from '../work.ts';

/** Work contexts one filter may stand for: their sessions go into one query of interceptions. */
export const MAX_CONTEXTS = 50_000;

type Keys = Pick<WorkContext, 'initiator_id' | 'client_session_id' | 'interception_id'>;

/** The work contexts a filter's work keys (and initiator) match, as the store has no join. */
function contextQuery(filter: InterceptionFilter): Filter<WorkContext> {
  const query: Filter<WorkContext> = {};
  if (filter.initiator_id !== undefined) query.initiator_id = filter.initiator_id;
  if (filter.repo !== undefined) query.repo = filter.repo;
  if (filter.branch !== undefined) query.branch = filter.branch;
  const urls: Filter<WorkContext>[] = [];
  for (const [key, field] of [
    ['pr', 'pr_urls'],
    ['issue', 'issue_urls'],
  ] as const) {
    const value = filter[key];
    if (value === undefined) continue;
    const match = urlMatch(value);
    // An array field matches when one of its elements does.
    urls.push({ [field]: 'exact' in match ? match.exact : { $regex: `/${match.number}$` } });
  }
  return urls.length ? { $and: [query, ...urls] } : query;
}

/** Interceptions that take one of these contexts: by their session, or (without one) by their id. */
export function inContexts(contexts: readonly Keys[]): Filter<InterceptionRecord> {
  const sessions = new Map<string, string[]>();
  const ids: string[] = [];
  for (const c of contexts) {
    if (c.client_session_id !== null) {
      const list = sessions.get(c.initiator_id) ?? [];
      list.push(c.client_session_id);
      sessions.set(c.initiator_id, list);
    } else if (c.interception_id !== null) ids.push(c.interception_id);
  }
  const any: Filter<InterceptionRecord>[] = [...sessions].map(([initiator, list]) => ({
    initiator_id: initiator,
    client_session_id: { $in: list },
  }));
  if (ids.length) any.push({ _id: { $in: ids }, client_session_id: null });
  return any.length ? { $or: any } : { _id: { $in: [] } };
}

/** The work contexts matching a query, bounded; a filter matching more is refused (TooBroadError). */
export async function contexts(db: Db, query: Filter<WorkContext>, fields: string[] = []): Promise<WorkContext[]> {
  const projection = Object.fromEntries(
    ['initiator_id', 'client_session_id', 'interception_id', ...fields].map((f) => [f, 1]),
  );
  const found = await db
    .collection<WorkContext>(COLLECTIONS.workContexts)
    .find(query, { projection })
    .limit(MAX_CONTEXTS + 1)
    .toArray();
  if (found.length > MAX_CONTEXTS) {
    throw new TooBroadError(
      `the work-context terms match more than ${MAX_CONTEXTS} sessions; add initiator: or narrow them`,
    );
  }
  return found;
}

/** The clause a filter's work keys add to a query of interceptions; undefined when it has none. */
export async function workClause(db: Db, filter: InterceptionFilter): Promise<Filter<InterceptionRecord> | undefined> {
  if (!filtersWork(filter)) return undefined;
  return inContexts(await contexts(db, contextQuery(filter)));
}

export { contextQuery };
