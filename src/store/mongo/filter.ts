import type { Document, Filter } from 'mongodb';
import type { InterceptionRecord } from '../records.ts';
import type { Cursor, InterceptionFilter } from '../store.ts';

/**
 * The audit filter as a MongoDB query; with a cursor, only what comes after it in page order. Work
 * keys need the work contexts read first: `work` is their clause (mongo/work.ts).
 */
export function toMongoFilter(
  filter: InterceptionFilter,
  after?: Cursor,
  work?: Filter<InterceptionRecord>,
): Filter<InterceptionRecord> {
  const out: Filter<InterceptionRecord> = {};
  if (filter.initiator_id !== undefined || filter.initiator_ids !== undefined) {
    out.initiator_id = {
      ...(filter.initiator_id !== undefined ? { $eq: filter.initiator_id } : {}),
      ...(filter.initiator_ids !== undefined ? { $in: [...filter.initiator_ids] } : {}),
    };
  }
  if (filter.provider !== undefined) out.provider = filter.provider as InterceptionRecord['provider'];
  if (filter.provider_name !== undefined) out.provider_name = filter.provider_name;
  if (filter.model !== undefined) out.model = filter.model;
  if (filter.client !== undefined) out.client = filter.client;
  if (filter.client_session_id !== undefined) out.client_session_id = filter.client_session_id;
  if (filter.status !== undefined) out.status = filter.status === 'running' ? null : filter.status;
  if (filter.started_after || filter.started_before) {
    out.started_at = {
      ...(filter.started_after ? { $gt: filter.started_after } : {}),
      ...(filter.started_before ? { $lt: filter.started_before } : {}),
    };
  }
  // Kept on the interception when it ends (a store without joins cannot look into tool_usages).
  if (filter.tool !== undefined) (out as Document)['totals.tools'] = filter.tool;
  const and: Filter<InterceptionRecord>[] = [out];
  if (work) and.push(work);
  // Strictly after (started_at, _id) in descending order; the outer $lte bounds the index scan.
  if (after) {
    and.push(
      { started_at: { $lte: after.started_at } },
      { $or: [{ started_at: { $lt: after.started_at } }, { _id: { $lt: after._id } }] },
    );
  }
  return and.length === 1 ? out : ({ $and: and } as Filter<InterceptionRecord>);
}

/** Both conditions: one flat query when they name different fields (FerretDB pushes those down), else $and. */
export function both<T>(a: Filter<T>, b: Filter<T>): Filter<T> {
  const clash = Object.keys(b).some((key) => key in a || key.startsWith('$'));
  return clash ? ({ $and: [a, b] } as Filter<T>) : ({ ...a, ...b } as Filter<T>);
}
