import type { Db, Filter } from 'mongodb';
import type { User } from '../identity/users.ts';
import type { InterceptionRecord, TokenUsageRecord, ToolUsageRecord, UserPromptRecord } from '../recorder/records.ts';
import { COLLECTIONS } from '../store/mongo.ts';
import type { AuditQuery, Validation } from './query.ts';

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;

/** A refusal with the status and body the audit API promises (SPEC §7): 400 with validations, 401, 403, 404. */
export class AuditError extends Error {
  readonly status: number;
  readonly validations?: Validation[];
  constructor(status: number, message: string, validations?: Validation[]) {
    super(message);
    this.status = status;
    this.validations = validations;
  }
}

/** A parsed query whose `initiator` has been resolved (and authorised) to a user id. */
export type ResolvedQuery = Omit<AuditQuery, 'initiator'> & { initiatorId?: string };

export interface Page {
  limit: number;
  offset?: number;
  afterId?: string;
}

type Iso = string;

/** A child record as the API shows it: `id` for `_id`, times as RFC 3339. */
type ApiChild<T extends { _id: string; created_at: Date }> = Omit<T, '_id' | 'created_at'> & {
  id: string;
  created_at: Iso;
};
export type ApiTokenUsage = ApiChild<TokenUsageRecord>;
export type ApiUserPrompt = ApiChild<UserPromptRecord>;
export type ApiToolUsage = ApiChild<ToolUsageRecord>;

export interface ApiInterception {
  id: string;
  initiator: { id: string; username: string | null; name: string | null };
  api_key_id: string;
  provider: string;
  provider_name: string;
  model: string;
  client: string;
  status: 'completed' | 'failed' | null;
  metadata: Record<string, unknown>;
  started_at: Iso;
  ended_at: Iso | null;
  token_usages: ApiTokenUsage[];
  user_prompts: ApiUserPrompt[];
  tool_usages: ApiToolUsage[];
}
export interface ApiList {
  count: number;
  results: ApiInterception[];
}

const ORDER = { started_at: -1, _id: -1 } as const;

export function toFilter(q: ResolvedQuery): Filter<InterceptionRecord> {
  const filter: Filter<InterceptionRecord> = {};
  if (q.initiatorId !== undefined) filter.initiator_id = q.initiatorId;
  if (q.provider !== undefined) filter.provider = q.provider as InterceptionRecord['provider'];
  if (q.provider_name !== undefined) filter.provider_name = q.provider_name;
  if (q.model !== undefined) filter.model = q.model;
  if (q.client !== undefined) filter.client = q.client;
  if (q.started_after || q.started_before) {
    filter.started_at = {
      ...(q.started_after ? { $gt: q.started_after } : {}),
      ...(q.started_before ? { $lt: q.started_before } : {}),
    };
  }
  return filter;
}

/**
 * Rows strictly after (started_at, _id) in descending order. The outer `$lte` bounds the index
 * scan on (started_at, _id); the `$or` then only trims the rows that share the cursor's time.
 */
function after(row: Pick<InterceptionRecord, '_id' | 'started_at'>): Filter<InterceptionRecord> {
  return {
    started_at: { $lte: row.started_at },
    $or: [{ started_at: { $lt: row.started_at } }, { _id: { $lt: row._id } }],
  };
}

const iso = (d: Date | null | undefined): Iso | null => (d instanceof Date ? d.toISOString() : null);
const byCreated = <T extends { _id: string; created_at: Date }>(a: T, b: T) =>
  a.created_at.getTime() - b.created_at.getTime() || (a._id < b._id ? -1 : a._id > b._id ? 1 : 0);

/** Fetches one collection's children of all the given interceptions in one `$in` query, grouped by parent. */
async function childrenOf<T extends { _id: string; interception_id: string; created_at: Date }>(
  db: Db,
  collection: string,
  ids: string[],
): Promise<Map<string, T[]>> {
  const groups = new Map<string, T[]>();
  if (ids.length === 0) return groups;
  const docs = (await db
    .collection(collection)
    .find({ interception_id: { $in: ids } })
    .toArray()) as unknown as T[];
  for (const doc of docs) {
    const list = groups.get(doc.interception_id);
    if (list) list.push(doc);
    else groups.set(doc.interception_id, [doc]);
  }
  for (const list of groups.values()) list.sort(byCreated);
  return groups;
}

function apiChild<T extends { _id: string; created_at: Date }>({ _id, created_at, ...fields }: T): ApiChild<T> {
  return { id: _id, ...fields, created_at: created_at.toISOString() };
}

/** Turns a page of interceptions into API objects: one query per child collection and one for users. */
export async function expand(db: Db, rows: InterceptionRecord[]): Promise<ApiInterception[]> {
  const ids = rows.map((r) => r._id);
  const initiatorIds = [...new Set(rows.map((r) => r.initiator_id))];
  const [tokens, prompts, tools, users] = await Promise.all([
    childrenOf<TokenUsageRecord>(db, COLLECTIONS.tokenUsages, ids),
    childrenOf<UserPromptRecord>(db, COLLECTIONS.userPrompts, ids),
    childrenOf<ToolUsageRecord>(db, COLLECTIONS.toolUsages, ids),
    initiatorIds.length
      ? db
          .collection<User>(COLLECTIONS.users)
          .find({ _id: { $in: initiatorIds } }, { projection: { _id: 1, username: 1, name: 1 } })
          .toArray()
      : Promise.resolve([]),
  ]);
  const userById = new Map(users.map((u) => [u._id, u]));
  return rows.map((r) => {
    const user = userById.get(r.initiator_id);
    return {
      id: r._id,
      initiator: { id: r.initiator_id, username: user?.username ?? null, name: user?.name ?? null },
      api_key_id: r.api_key_id,
      provider: r.provider,
      provider_name: r.provider_name,
      model: r.model,
      client: r.client,
      status: r.status ?? null,
      metadata: r.metadata ?? {},
      started_at: iso(r.started_at) as Iso,
      ended_at: iso(r.ended_at),
      token_usages: (tokens.get(r._id) ?? []).map(apiChild),
      user_prompts: (prompts.get(r._id) ?? []).map(apiChild),
      tool_usages: (tools.get(r._id) ?? []).map(apiChild),
    };
  });
}

/**
 * One page in (started_at desc, _id desc) order plus the count of everything matching.
 * `afterId` must name a row the same query can see: its (started_at, _id) is the cursor.
 */
export async function listInterceptions(db: Db, query: ResolvedQuery, page: Page): Promise<ApiList> {
  const interceptions = db.collection<InterceptionRecord>(COLLECTIONS.interceptions);
  const filter = toFilter(query);
  let pageFilter = filter;
  if (page.afterId !== undefined) {
    const cursor = await interceptions.findOne(
      { ...filter, _id: page.afterId },
      { projection: { _id: 1, started_at: 1 } },
    );
    if (!cursor) {
      throw new AuditError(400, 'invalid after_id', [
        { field: 'after_id', detail: `no interception "${page.afterId}" in this result set` },
      ]);
    }
    pageFilter = { $and: [filter, after(cursor)] };
  }
  const isEmpty = Object.keys(filter).length === 0;
  const [rows, count] = await Promise.all([
    interceptions
      .find(pageFilter)
      .sort(ORDER)
      .skip(page.offset ?? 0)
      .limit(page.limit)
      .toArray(),
    // With no filter the server's collection count answers without reading every document.
    isEmpty ? interceptions.estimatedDocumentCount() : interceptions.countDocuments(filter),
  ]);
  return { count, results: await expand(db, rows) };
}

/** One interception by id, within what the query (i.e. the caller's visibility) allows. */
export async function getInterception(db: Db, query: ResolvedQuery, id: string): Promise<ApiInterception | null> {
  const row = await db
    .collection<InterceptionRecord>(COLLECTIONS.interceptions)
    .findOne({ ...toFilter(query), _id: id });
  return row ? ((await expand(db, [row]))[0] ?? null) : null;
}

/** Distinct values of one field for filter pickers, sorted, nulls dropped. */
export async function distinctValues(db: Db, field: 'model' | 'client', query: ResolvedQuery): Promise<string[]> {
  const values = await db.collection<InterceptionRecord>(COLLECTIONS.interceptions).distinct(field, toFilter(query));
  return values.filter((v): v is string => typeof v === 'string' && v !== '').sort();
}
