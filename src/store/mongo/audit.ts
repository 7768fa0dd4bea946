import type { Db, Filter } from 'mongodb';
import { present } from '../present.ts';
import type { InterceptionRecord, ToolUsageRecord } from '../records.ts';
import {
  type AuditStore,
  COLLECTIONS,
  type Cursor,
  type IdentityStore,
  type InterceptionFilter,
  type Listed,
  type SessionSummary,
  type ToolSummary,
  type UsageGroup,
  type UsageKey,
} from '../store.ts';
import { Details } from './details.ts';
import { both, toMongoFilter } from './filter.ts';
import { sessions } from './sessions.ts';
import { clientToolCall } from './tool-calls.ts';
import { topTools } from './top-tools.ts';
import { usageByRepo } from './usage.ts';
import { workClause } from './work.ts';

/** The audit's reads over the interceptions and their children. */
export class MongoAudit implements AuditStore {
  readonly #db: Db;
  readonly #details: Details;
  constructor(db: Db, identity: IdentityStore) {
    this.#db = db;
    this.#details = new Details(db, identity);
  }

  get #interceptions() {
    return this.#db.collection<InterceptionRecord>(COLLECTIONS.interceptions);
  }

  /** The filter as a query, its work keys looked up first. */
  async #match(filter: InterceptionFilter, after?: Cursor): Promise<Filter<InterceptionRecord>> {
    return toMongoFilter(filter, after, await workClause(this.#db, filter));
  }

  async cursor(filter: InterceptionFilter, id: string): Promise<Cursor | null> {
    const row = await this.#interceptions.findOne(both(await this.#match(filter), { _id: id }), {
      projection: { _id: 1, started_at: 1 },
    });
    return row ? { _id: row._id, started_at: row.started_at } : null;
  }

  async list(filter: InterceptionFilter, page: { limit: number; offset?: number; after?: Cursor }) {
    const rows = await this.#interceptions
      .find(await this.#match(filter, page.after))
      .sort({ started_at: -1, _id: -1 })
      .skip(page.offset ?? 0)
      .limit(page.limit)
      .toArray();
    return this.#details.expand(rows);
  }

  async listJson(filter: InterceptionFilter, page: { limit: number; offset?: number; after?: Cursor }) {
    return JSON.stringify((await this.list(filter, page)).map(present));
  }

  async count(filter: InterceptionFilter): Promise<number> {
    const query = await this.#match(filter);
    // With no filter the server's collection count answers without reading every document.
    return Object.keys(query).length
      ? this.#interceptions.countDocuments(query)
      : this.#interceptions.estimatedDocumentCount();
  }

  async get(filter: InterceptionFilter, id: string) {
    const row = await this.#interceptions.findOne(both(await this.#match(filter), { _id: id }));
    return row ? ((await this.#details.expand([row]))[0] ?? null) : null;
  }

  async distinct(field: 'model' | 'client', filter: InterceptionFilter): Promise<string[]> {
    const values = await this.#interceptions.distinct(field, await this.#match(filter));
    return values.filter((v): v is string => typeof v === 'string' && v !== '').sort();
  }

  async usage(filter: InterceptionFilter, groupBy: readonly UsageKey[]): Promise<UsageGroup[]> {
    return usageByRepo(this.#db, filter, groupBy, await workClause(this.#db, filter));
  }

  async sessions(
    filter: InterceptionFilter,
    page: { limit: number; offset?: number },
  ): Promise<Listed<SessionSummary>> {
    return sessions(this.#interceptions, await this.#match(filter), page);
  }

  async tools(filter: InterceptionFilter, limit: number): Promise<Listed<ToolSummary>> {
    return topTools(this.#db, await this.#match(filter), limit);
  }

  clientToolCall(initiatorId: string, toolCallId: string, before?: Date): Promise<ToolUsageRecord | null> {
    return clientToolCall(this.#db, initiatorId, toolCallId, before);
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
