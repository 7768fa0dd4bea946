import {
  type AnyBulkWriteOperation,
  type Db,
  type Document,
  type Filter,
  MongoClient,
  MongoInvalidArgumentError,
  MongoParseError,
  MongoServerError,
  MongoWriteConcernError,
} from 'mongodb';
import { present } from '../../audit/present.ts';
import type {
  InterceptionEnd,
  InterceptionRecord,
  ModelThoughtRecord,
  RecordOp,
  TokenUsageRecord,
  ToolUsageRecord,
  UserPromptRecord,
} from '../../recorder/records.ts';
import {
  type ApiKeyDoc,
  type AuditStore,
  CHILD_COLLECTION_OF,
  CHILD_COLLECTIONS,
  COLLECTIONS,
  type CollectionName,
  type CredentialDoc,
  type CredentialStore,
  type Cursor,
  DAY_MS,
  type DocumentSink,
  type DocumentSource,
  DuplicateError,
  dayName,
  type IdentityStore,
  type InterceptionDetail,
  type InterceptionFilter,
  type LeaseStore,
  type RateStore,
  type RecordStore,
  redactUri,
  type SessionSummary,
  type Store,
  type ToolSummary,
  type UsageGroup,
  type UsageKey,
  type UserDoc,
} from '../store.ts';
import { ensureIndexes } from './indexes.ts';

const DUPLICATE_KEY = 11000;
/** FerretDB 1.24 stalls on an update command of 100 or more statements, so bulk updates go in chunks. */
const UPDATE_CHUNK = 50;

type Entity = { _id: string };

const USAGE_FIELD: Record<Exclude<UsageKey, 'day'>, string> = {
  initiator: '$initiator_id',
  model: '$model',
  provider: '$provider',
  client: '$client',
};

const isDuplicate = (err: unknown) => (err as { code?: number }).code === DUPLICATE_KEY;

function toMongoFilter(filter: InterceptionFilter, after?: Cursor): Filter<InterceptionRecord> {
  const out: Filter<InterceptionRecord> = {};
  if (filter.initiator_id !== undefined) out.initiator_id = filter.initiator_id;
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
  if (!after) return out;
  // Strictly after (started_at, _id) in descending order; the outer $lte bounds the index scan.
  return {
    $and: [
      out,
      { started_at: { $lte: after.started_at } },
      { $or: [{ started_at: { $lt: after.started_at } }, { _id: { $lt: after._id } }] },
    ],
  } as Filter<InterceptionRecord>;
}

/**
 * Inserts documents, ignoring those whose _id exists; returns the ones that met an existing
 * _id. Existing ids are looked up first, so a replayed batch inserts only what is missing:
 * FerretDB 1.24 can drop the connection answering an unordered insert with several
 * duplicate-key errors, and a retried batch must never meet that.
 */
async function insertIgnoringDuplicates<T extends Entity>(db: Db, collection: string, docs: T[]): Promise<T[]> {
  if (!docs.length) return [];
  const found = await db
    .collection<Entity>(collection)
    .find({ _id: { $in: docs.map((d) => d._id) } }, { projection: { _id: 1 } })
    .toArray();
  const existing = new Set(found.map((d) => d._id));
  const fresh = docs.filter((d) => !existing.has(d._id));
  const met = docs.filter((d) => existing.has(d._id));
  if (!fresh.length) return met;
  try {
    await db.collection<Document>(collection).insertMany(fresh as Document[], { ordered: false });
    return met;
  } catch (err) {
    // Another writer got there in between: its copies count as already written.
    const writeErrors = (
      err as { writeErrors?: Array<{ code: number; index: number }> | { code: number; index: number } }
    ).writeErrors;
    const errors = Array.isArray(writeErrors) ? writeErrors : writeErrors ? [writeErrors] : [];
    if (!errors.length) {
      if (isDuplicate(err) && fresh.length === 1) return [...met, ...fresh];
      throw err;
    }
    if (errors.some((e) => e.code !== DUPLICATE_KEY)) throw err;
    return [...met, ...errors.map((e) => fresh[e.index] as T)];
  }
}

function endUpdate(id: string, end: InterceptionEnd): AnyBulkWriteOperation<Entity> {
  const set: Document = { ended_at: end.ended_at, status: end.status, cost_usd: end.cost_usd, totals: end.totals };
  for (const [key, value] of Object.entries(end.metadata ?? {})) set[`metadata.${key}`] = value;
  return { updateOne: { filter: { _id: id }, update: { $set: set } } };
}

async function bulkInChunks(db: Db, collection: string, updates: AnyBulkWriteOperation<Entity>[]): Promise<void> {
  for (let i = 0; i < updates.length; i += UPDATE_CHUNK) {
    await db.collection<Entity>(collection).bulkWrite(updates.slice(i, i + UPDATE_CHUNK), { ordered: true });
  }
}

const totalsOf = (doc: InterceptionRecord) =>
  doc.totals ?? {
    input_tokens: 0,
    output_tokens: 0,
    cache_read_input_tokens: 0,
    cache_write_input_tokens: 0,
    tool_calls: 0,
  };

class MongoRecords implements RecordStore {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }

  async write(ops: RecordOp[]): Promise<void> {
    const inserts = new Map<string, Entity[]>();
    const ends: AnyBulkWriteOperation<Entity>[] = [];
    for (const op of ops) {
      if (op.kind === 'interception_ended') {
        ends.push(endUpdate(op.id, op));
        continue;
      }
      const collection = op.kind === 'interception' ? COLLECTIONS.interceptions : CHILD_COLLECTION_OF[op.kind];
      const list = inserts.get(collection) ?? [];
      list.push(op.doc);
      inserts.set(collection, list);
    }
    const existing = await Promise.all(
      [...inserts].map(([collection, docs]) => insertIgnoringDuplicates(this.#db, collection, docs)),
    );
    // An interception written before (a replayed journal) takes the end fields this copy carries.
    const interceptionIndex = [...inserts.keys()].indexOf(COLLECTIONS.interceptions);
    for (const doc of (existing[interceptionIndex] ?? []) as InterceptionRecord[]) {
      if (doc.ended_at && doc.status) {
        const { ended_at, status, cost_usd, metadata } = doc;
        ends.unshift(endUpdate(doc._id, { ended_at, status, cost_usd, totals: totalsOf(doc), metadata }));
      }
    }
    await bulkInChunks(this.#db, COLLECTIONS.interceptions, ends);
  }

  async purge(cutoff: Date, limit: number) {
    const interceptions = this.#db.collection<InterceptionRecord>(COLLECTIONS.interceptions);
    const ids = (
      await interceptions
        .find({ started_at: { $lt: cutoff } }, { projection: { _id: 1 } })
        .limit(limit)
        .toArray()
    ).map((d) => d._id);
    const children: Record<string, number> = {};
    for (const name of CHILD_COLLECTIONS) {
      children[name] = ids.length
        ? (await this.#db.collection(name).deleteMany({ interception_id: { $in: ids } })).deletedCount
        : 0;
    }
    const deleted = ids.length ? (await interceptions.deleteMany({ _id: { $in: ids } })).deletedCount : 0;
    return { interceptions: deleted, children };
  }
}

/** What a usage group sums, each as the field it adds up. */
const SUMMED = {
  interceptions: '$one',
  input_tokens: '$totals.input_tokens',
  output_tokens: '$totals.output_tokens',
  cache_read_input_tokens: '$totals.cache_read_input_tokens',
  cache_write_input_tokens: '$totals.cache_write_input_tokens',
  cost_usd: '$cost_usd',
  tool_calls: '$totals.tool_calls',
} as const;
type Summed = Record<keyof typeof SUMMED | 'priced' | 'failed', number>;

/** Group keys as `{name: '$field'}`; null groups everything together. */
type GroupSpec = Record<string, string> | null;
const keyText = (id: unknown) => JSON.stringify(id ?? {});

class MongoAudit implements AuditStore {
  readonly #db: Db;
  readonly #identity: MongoIdentity;
  constructor(db: Db, identity: MongoIdentity) {
    this.#db = db;
    this.#identity = identity;
  }

  get #interceptions() {
    return this.#db.collection<InterceptionRecord>(COLLECTIONS.interceptions);
  }

  async #children<T extends { interception_id: string }>(collection: string, ids: string[]): Promise<Map<string, T[]>> {
    const docs = (await this.#db
      .collection(collection)
      .find({ interception_id: { $in: ids } })
      .sort({ created_at: 1, _id: 1 })
      .toArray()) as unknown as T[];
    const groups = new Map<string, T[]>();
    for (const doc of docs) {
      const group = groups.get(doc.interception_id);
      if (group) group.push(doc);
      else groups.set(doc.interception_id, [doc]);
    }
    return groups;
  }

  async #expand(rows: InterceptionRecord[]): Promise<InterceptionDetail[]> {
    if (!rows.length) return [];
    const ids = rows.map((r) => r._id);
    const [prompts, tokens, tools, thoughts, users] = await Promise.all([
      this.#children<UserPromptRecord>(COLLECTIONS.userPrompts, ids),
      this.#children<TokenUsageRecord>(COLLECTIONS.tokenUsages, ids),
      this.#children<ToolUsageRecord>(COLLECTIONS.toolUsages, ids),
      this.#children<ModelThoughtRecord>(COLLECTIONS.modelThoughts, ids),
      this.#identity.usersByIds([...new Set(rows.map((r) => r.initiator_id))]),
    ]);
    const userById = new Map(users.map((u) => [u._id, u]));
    return rows.map((interception) => {
      const id = interception._id;
      const user = userById.get(interception.initiator_id);
      return {
        interception,
        initiator: user ? { username: user.username, name: user.name } : null,
        user_prompts: prompts.get(id) ?? [],
        token_usages: tokens.get(id) ?? [],
        tool_usages: tools.get(id) ?? [],
        model_thoughts: thoughts.get(id) ?? [],
      };
    });
  }

  async cursor(filter: InterceptionFilter, id: string): Promise<Cursor | null> {
    const row = await this.#interceptions.findOne(
      { ...toMongoFilter(filter), _id: id },
      { projection: { _id: 1, started_at: 1 } },
    );
    return row ? { _id: row._id, started_at: row.started_at } : null;
  }

  async list(filter: InterceptionFilter, page: { limit: number; offset?: number; after?: Cursor }) {
    const rows = await this.#interceptions
      .find(toMongoFilter(filter, page.after))
      .sort({ started_at: -1, _id: -1 })
      .skip(page.offset ?? 0)
      .limit(page.limit)
      .toArray();
    return this.#expand(rows);
  }

  async listJson(filter: InterceptionFilter, page: { limit: number; offset?: number; after?: Cursor }) {
    return JSON.stringify((await this.list(filter, page)).map(present));
  }

  count(filter: InterceptionFilter): Promise<number> {
    const query = toMongoFilter(filter);
    // With no filter the server's collection count answers without reading every document.
    return Object.keys(query).length
      ? this.#interceptions.countDocuments(query)
      : this.#interceptions.estimatedDocumentCount();
  }

  async get(filter: InterceptionFilter, id: string) {
    const row = await this.#interceptions.findOne({ ...toMongoFilter(filter), _id: id });
    return row ? ((await this.#expand([row]))[0] ?? null) : null;
  }

  async distinct(field: 'model' | 'client', filter: InterceptionFilter): Promise<string[]> {
    const values = await this.#interceptions.distinct(field, toMongoFilter(filter));
    return values.filter((v): v is string => typeof v === 'string' && v !== '').sort();
  }

  /**
   * Sums per group. FerretDB 1.24 computes only the first accumulator of a $group (later
   * ones come back 0) and has no $cond or $literal, so each sum is its own single-$sum
   * pipeline — all run at once — and counts sum a constant field set by $set.
   */
  async #sums(match: Filter<InterceptionRecord>, spec: GroupSpec): Promise<Map<string, { id: unknown; sums: Summed }>> {
    const one = async (name: keyof Summed, field: string, extra: Filter<InterceptionRecord> = {}) => {
      const rows = await this.#interceptions
        .aggregate<{ _id: unknown; v: number }>([
          // $and, not a merge: the caller's match may name the same field (status: 'completed').
          { $match: Object.keys(extra).length ? { $and: [match, extra] } : match },
          ...(field === '$one' ? [{ $set: { one: 1 } }] : []),
          { $group: { _id: spec, v: { $sum: field } } },
        ])
        .toArray();
      return rows.map((row) => ({ name, ...row }));
    };
    const results = await Promise.all([
      ...Object.entries(SUMMED).map(([name, field]) => one(name as keyof Summed, field)),
      one('priced', '$one', { cost_usd: { $ne: null } }),
      one('failed', '$one', { status: 'failed' }),
    ]);
    const groups = new Map<string, { id: unknown; sums: Summed }>();
    for (const row of results.flat()) {
      const key = keyText(row._id);
      let group = groups.get(key);
      if (!group) {
        const zero = Object.fromEntries([...Object.keys(SUMMED), 'priced', 'failed'].map((k) => [k, 0])) as Summed;
        group = { id: row._id, sums: zero };
        groups.set(key, group);
      }
      group.sums[row.name] = row.v;
    }
    return groups;
  }

  async #usageGroups(match: Filter<InterceptionRecord>, keys: ReadonlyArray<Exclude<UsageKey, 'day'>>) {
    const spec = keys.length ? Object.fromEntries(keys.map((key) => [key, USAGE_FIELD[key]])) : null;
    const groups = await this.#sums(match, spec);
    return [...groups.values()]
      .filter((g) => g.sums.interceptions > 0)
      .map(
        ({ id, sums }): UsageGroup => ({
          key: Object.fromEntries(keys.map((k) => [k, String((id as Record<string, unknown> | null)?.[k] ?? '')])),
          interceptions: sums.interceptions,
          input_tokens: sums.input_tokens,
          output_tokens: sums.output_tokens,
          cache_read_input_tokens: sums.cache_read_input_tokens,
          cache_write_input_tokens: sums.cache_write_input_tokens,
          cost_usd: sums.priced > 0 ? sums.cost_usd : null,
          tool_calls: sums.tool_calls,
          failed: sums.failed,
        }),
      );
  }

  async usage(filter: InterceptionFilter, groupBy: readonly UsageKey[]): Promise<UsageGroup[]> {
    const keys = groupBy.filter((k): k is Exclude<UsageKey, 'day'> => k !== 'day');
    const match: Filter<InterceptionRecord> = { ...toMongoFilter(filter), ended_at: { $ne: null } };
    if (!groupBy.includes('day')) return this.#usageGroups(match, keys);
    // No date operators to group by day with, in both servers: one $group per UTC day in range.
    const bound = (order: 1 | -1) =>
      this.#interceptions.findOne(match, { sort: { started_at: order }, projection: { started_at: 1 } });
    const [first, last] = await Promise.all([bound(1), bound(-1)]);
    if (!first || !last) return [];
    const days: number[] = [];
    for (let day = Math.floor(first.started_at.getTime() / DAY_MS); day * DAY_MS <= last.started_at.getTime(); day++)
      days.push(day);
    const groups: UsageGroup[] = [];
    for (let i = 0; i < days.length; i += 8) {
      const batch = await Promise.all(
        days.slice(i, i + 8).map(async (day) => {
          const start = new Date(Math.max(day * DAY_MS, (filter.started_after?.getTime() ?? -1) + 1));
          const range = { $gte: start, $lt: new Date((day + 1) * DAY_MS) };
          const started = filter.started_before
            ? { ...range, $lt: new Date(Math.min((day + 1) * DAY_MS, filter.started_before.getTime())) }
            : range;
          const sums = await this.#usageGroups({ ...match, started_at: started }, keys);
          const label = dayName(day);
          return sums.map((g) => ({ ...g, key: { ...g.key, day: label } }));
        }),
      );
      groups.push(...batch.flat());
    }
    // Keep the caller's key order in each group's key.
    return groups.map((g) => ({ ...g, key: Object.fromEntries(groupBy.map((k) => [k, g.key[k] as string])) }));
  }

  /**
   * Sessions by last activity: walk the page-order index collecting distinct sessions (no
   * $max accumulator in both servers), then sum each one with $group.
   */
  async sessions(filter: InterceptionFilter, page: { limit: number; offset?: number }): Promise<SessionSummary[]> {
    const match = { ...toMongoFilter(filter), client_session_id: { $ne: null } } as Filter<InterceptionRecord>;
    const wanted = (page.offset ?? 0) + page.limit;
    const seen = new Map<string, { session: string; initiator: string; client: string; last: Date }>();
    const walk = this.#interceptions
      .find(match, { projection: { client_session_id: 1, initiator_id: 1, client: 1, started_at: 1 } })
      .sort({ started_at: -1, _id: -1 })
      .limit(200_000)
      .batchSize(2_000);
    for await (const row of walk) {
      const key = `${row.client_session_id}\0${row.initiator_id}`;
      if (!seen.has(key))
        seen.set(key, {
          session: row.client_session_id as string,
          initiator: row.initiator_id,
          client: row.client,
          last: row.started_at,
        });
      if (seen.size >= wanted) break;
    }
    await walk.close();
    const chosen = [...seen.values()].slice(page.offset ?? 0, wanted);
    if (!chosen.length) return [];
    const inPage = { ...match, client_session_id: { $in: chosen.map((c) => c.session) } } as Filter<InterceptionRecord>;
    const [sums, firsts] = await Promise.all([
      this.#sums(inPage, { s: '$client_session_id', i: '$initiator_id' }),
      Promise.all(
        chosen.map((c) =>
          this.#interceptions.findOne(
            { ...match, client_session_id: c.session, initiator_id: c.initiator },
            { sort: { started_at: 1 }, projection: { started_at: 1 } },
          ),
        ),
      ),
    ]);
    return chosen.map((c, i) => {
      const total = sums.get(keyText({ s: c.session, i: c.initiator }))?.sums;
      return {
        client_session_id: c.session,
        initiator_id: c.initiator,
        client: c.client,
        first_started_at: firsts[i]?.started_at ?? c.last,
        last_started_at: c.last,
        interceptions: total?.interceptions ?? 0,
        input_tokens: total?.input_tokens ?? 0,
        output_tokens: total?.output_tokens ?? 0,
        cost_usd: total && total.priced > 0 ? total.cost_usd : null,
      };
    });
  }

  /** No join in both servers: the newest 20 000 matching interceptions' ids, then one $group per sum. */
  async tools(filter: InterceptionFilter, limit: number): Promise<ToolSummary[]> {
    const ids = (
      await this.#interceptions
        .find(toMongoFilter(filter), { projection: { _id: 1 } })
        .sort({ started_at: -1, _id: -1 })
        .limit(20_000)
        .toArray()
    ).map((d) => d._id);
    if (!ids.length) return [];
    const usages = this.#db.collection<ToolUsageRecord>(COLLECTIONS.toolUsages);
    const key = { tool: '$tool', server_url: '$server_url', injected: '$injected' };
    const sum = async (field: string, extra: Filter<ToolUsageRecord> = {}) =>
      usages
        .aggregate<{ _id: { tool: string; server_url: string | null; injected: boolean }; v: number }>([
          { $match: { interception_id: { $in: ids }, ...extra } },
          ...(field === '$one' ? [{ $set: { one: 1 } }] : []),
          { $group: { _id: key, v: { $sum: field } } },
        ])
        .toArray();
    const [calls, failed, duration, timed] = await Promise.all([
      sum('$one'),
      sum('$one', { invocation_error: { $ne: null } }),
      sum('$duration_ms'),
      sum('$one', { duration_ms: { $ne: null } }),
    ]);
    const of = (rows: typeof calls) => new Map(rows.map((r) => [keyText(r._id), r.v]));
    const [failedBy, durationBy, timedBy] = [of(failed), of(duration), of(timed)];
    return calls
      .map((r) => ({
        tool: r._id.tool,
        server_url: r._id.server_url ?? null,
        injected: r._id.injected === true,
        calls: r.v,
        failed: failedBy.get(keyText(r._id)) ?? 0,
        duration_ms: durationBy.get(keyText(r._id)) ?? 0,
        timed: timedBy.get(keyText(r._id)) ?? 0,
      }))
      .sort((a, b) => b.calls - a.calls || a.tool.localeCompare(b.tool))
      .slice(0, limit);
  }

  async spend(userId: string, since: Date): Promise<number> {
    const [row] = await this.#interceptions
      .aggregate<{ usd: number }>([
        { $match: { initiator_id: userId, started_at: { $gte: since } } },
        { $group: { _id: null, usd: { $sum: '$cost_usd' } } },
      ])
      .toArray();
    return row?.usd ?? 0;
  }
}

class MongoIdentity implements IdentityStore {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }
  get #users() {
    return this.#db.collection<UserDoc>(COLLECTIONS.users);
  }
  get #keys() {
    return this.#db.collection<ApiKeyDoc>(COLLECTIONS.apiKeys);
  }

  async createUser(user: UserDoc) {
    try {
      await this.#users.insertOne(user);
    } catch (err) {
      if (isDuplicate(err)) throw new DuplicateError(`user "${user.username}" already exists`);
      throw err;
    }
  }
  users(options?: { includeDeleted?: boolean }) {
    return this.#users.find(options?.includeDeleted ? {} : { deleted_at: null }, { sort: { username: 1 } }).toArray();
  }
  countUsers() {
    return this.#users.countDocuments({});
  }
  userById(id: string) {
    return this.#users.findOne({ _id: id });
  }
  userByUsername(username: string) {
    return this.#users.findOne({ username });
  }
  usersByIds(ids: readonly string[]) {
    return ids.length ? this.#users.find({ _id: { $in: [...ids] } }).toArray() : Promise.resolve([]);
  }
  async updateUser(id: string, patch: Partial<UserDoc>) {
    return (await this.#users.updateOne({ _id: id }, { $set: patch })).matchedCount === 1;
  }
  async createKey(key: ApiKeyDoc) {
    try {
      await this.#keys.insertOne(key);
    } catch (err) {
      if (isDuplicate(err)) throw new DuplicateError('a token with this id or hash already exists');
      throw err;
    }
  }
  keyByHash(hash: string) {
    return this.#keys.findOne({ hash });
  }
  keyById(id: string) {
    return this.#keys.findOne({ _id: id });
  }
  keys(userId?: string) {
    return this.#keys
      .find(userId ? { user_id: userId } : {})
      .sort(userId ? { created_at: 1, _id: 1 } : { user_id: 1, created_at: 1, _id: 1 })
      .toArray();
  }
  async revokeKeys(ids: readonly string[], at: Date) {
    if (!ids.length) return 0;
    return (await this.#keys.updateMany({ _id: { $in: [...ids] }, revoked_at: null }, { $set: { revoked_at: at } }))
      .modifiedCount;
  }
  async touchKeys(lastUsed: ReadonlyArray<readonly [string, Date]>) {
    const updates: AnyBulkWriteOperation<Entity>[] = lastUsed.map(([id, at]) => ({
      updateOne: {
        filter: { _id: id, $or: [{ last_used_at: null }, { last_used_at: { $lt: at } }] },
        update: { $set: { last_used_at: at } },
      },
    }));
    await bulkInChunks(this.#db, COLLECTIONS.apiKeys, updates);
  }
  async pruneKeys(before: Date) {
    const { deletedCount } = await this.#keys.deleteMany({
      kind: 'console',
      $or: [{ expires_at: { $lt: before } }, { revoked_at: { $lt: before } }],
    });
    return deletedCount;
  }
}

class MongoCredentials implements CredentialStore {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }
  get #docs() {
    return this.#db.collection<CredentialDoc>(COLLECTIONS.mcpCredentials);
  }
  async upsert(doc: CredentialDoc) {
    const { _id, created_at, user_id, server, ...rest } = doc;
    await this.#docs.updateOne(
      { user_id, server },
      { $set: rest, $setOnInsert: { _id, created_at } },
      { upsert: true },
    );
  }
  get(userId: string, server: string) {
    return this.#docs.findOne({ user_id: userId, server });
  }
  list(userId?: string) {
    return this.#docs.find(userId ? { user_id: userId } : {}, { sort: { user_id: 1, server: 1 } }).toArray();
  }
  async delete(userId: string, server: string) {
    return (await this.#docs.deleteOne({ user_id: userId, server })).deletedCount === 1;
  }
  async deleteForUser(userId: string) {
    return (await this.#docs.deleteMany({ user_id: userId })).deletedCount;
  }
}

interface LeaseDoc {
  _id: string;
  holder: string;
  until: Date;
}

class MongoLeases implements LeaseStore {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }
  /**
   * Insert-first, because a unique _id is the one compare-and-set both MongoDB and FerretDB
   * make atomic (FerretDB evaluates an update's filter and writes in separate steps): a
   * released lease is absent, so racers meet on the insert and one wins. An expired lease is
   * deleted — that exact version only — and the insert tried again.
   */
  async acquire(name: string, holder: string, ms: number, now = new Date()) {
    const leases = this.#db.collection<LeaseDoc>(COLLECTIONS.leases);
    const until = new Date(now.getTime() + ms);
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await leases.insertOne({ _id: name, holder, until });
        return true;
      } catch (err) {
        if (!isDuplicate(err)) throw err;
      }
      const current = await leases.findOne({ _id: name });
      if (!current) continue;
      if (current.holder === holder) {
        return (await leases.updateOne({ _id: name, holder }, { $set: { until } })).matchedCount === 1;
      }
      if (current.until > now) return false;
      await leases.deleteOne({ _id: name, holder: current.holder, until: current.until });
    }
    return false;
  }
  async release(name: string, holder: string) {
    await this.#db.collection<LeaseDoc>(COLLECTIONS.leases).deleteOne({ _id: name, holder });
  }
}

interface RateWindowDoc {
  _id: string;
  holder: string;
  window: number;
  counts: Record<string, number>;
}

class MongoRates implements RateStore {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }
  get #docs() {
    return this.#db.collection<RateWindowDoc>(COLLECTIONS.rateWindows);
  }
  async publish(holder: string, window: number, counts: Record<string, number>) {
    // One writer per document (its replica), so a replace-upsert is safe on FerretDB too.
    const _id = `${holder}|${window}`;
    await this.#docs.replaceOne({ _id }, { holder, window, counts }, { upsert: true });
  }
  async others(holder: string, window: number) {
    const sums: Record<string, number> = {};
    for (const doc of await this.#docs.find({ window, holder: { $ne: holder } }).toArray()) {
      for (const [key, n] of Object.entries(doc.counts)) sums[key] = (sums[key] ?? 0) + n;
    }
    return sums;
  }
  async prune(window: number) {
    await this.#docs.deleteMany({ window: { $lt: window } });
  }
}

class MongoDocuments implements DocumentSource, DocumentSink {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }
  scan(collection: CollectionName, afterId: string | null, limit: number) {
    return this.#db
      .collection<Entity>(collection)
      .find(afterId === null ? {} : { _id: { $gt: afterId } })
      .sort({ _id: 1 })
      .limit(limit)
      .toArray();
  }
  estimate(collection: CollectionName) {
    return this.#db.collection(collection).estimatedDocumentCount();
  }
  async insertNew(collection: CollectionName, docs: ReadonlyArray<{ _id: string }>) {
    const existing = await insertIgnoringDuplicates(this.#db, collection, [...docs]);
    return docs.length - existing.length;
  }
}

/** Server codes that mean "this document can never be stored as it is" (bad value, too large, bad field name). */
const DOCUMENT_CODES = new Set([2, 14, 52, 55, 56, 57, 10334, 16733, 17280, 17419]);

/** A write the server took but could not make as durable as asked: no fault of the documents. */
const missedWriteConcern = (err: MongoServerError) =>
  err instanceof MongoWriteConcernError ||
  Boolean((err as { result?: { getWriteConcernError?(): unknown } }).result?.getWriteConcernError?.());

/**
 * A refusal of the record itself: the driver could not serialise it (too large, bad keys) or
 * the server refused a document with one of DOCUMENT_CODES. Anything else — network,
 * selection, write concern, a server out of disk, overload, unknown — is worth retrying.
 */
function isPermanent(err: unknown): boolean {
  if (err instanceof MongoInvalidArgumentError || (err as Error).name === 'BSONError') return true;
  if (!(err instanceof MongoServerError)) return false;
  if (missedWriteConcern(err) || err.hasErrorLabel('RetryableWriteError')) return false;
  const writeErrors = (err as { writeErrors?: unknown }).writeErrors;
  const codes = Array.isArray(writeErrors)
    ? writeErrors.map((e: { code?: number }) => e.code)
    : writeErrors
      ? [(writeErrors as { code?: number }).code]
      : [err.code];
  return codes.length > 0 && codes.every((code) => DOCUMENT_CODES.has(Number(code)));
}

/**
 * The MongoDB store: a pooled client that keeps reconnecting on its own; the first ping must
 * succeed within the timeout so a wrong URI fails start-up clearly.
 */
export async function openMongoStore(uri: string, database: string, timeoutMs = 10_000): Promise<Store & { db: Db }> {
  const client = new MongoClient(uri, {
    // While no server answers, operations fail within a second (the API answers 503, the
    // recorder journals and retries) instead of hanging for the usual 30 s.
    serverSelectionTimeoutMS: 1_000,
    connectTimeoutMS: timeoutMs,
    maxPoolSize: 20,
    retryWrites: false, // FerretDB has no retryable writes; the recorder retries itself.
  });
  for (const deadline = Date.now() + timeoutMs; ; ) {
    try {
      await client.db(database).command({ ping: 1 });
      break;
    } catch (err) {
      if (Date.now() < deadline && !(err instanceof MongoParseError)) continue;
      await client.close().catch(() => {});
      throw new Error(`cannot reach MongoDB at ${redactUri(uri)}: ${(err as Error).message}`);
    }
  }
  const db = client.db(database);
  try {
    await ensureIndexes(db);
  } catch (err) {
    await client.close().catch(() => {});
    throw err;
  }
  const identity = new MongoIdentity(db);
  return {
    kind: 'mongodb',
    location: `${redactUri(uri)} (database ${database})`,
    db,
    records: new MongoRecords(db),
    audit: new MongoAudit(db, identity),
    identity,
    credentials: new MongoCredentials(db),
    leases: new MongoLeases(db),
    rates: new MongoRates(db),
    documents: new MongoDocuments(db),
    async ping(timeout = 1_000) {
      try {
        await db.command({ ping: 1 }, { timeoutMS: timeout });
        return true;
      } catch {
        return false;
      }
    },
    isPermanent,
    close: () => client.close(),
  };
}
