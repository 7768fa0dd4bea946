import type {
  AnnotationRecord,
  InterceptionRecord,
  ModelThoughtRecord,
  TokenUsageRecord,
  ToolUsageRecord,
  UserPromptRecord,
} from '../records.ts';
import {
  COLLECTIONS,
  type CollectionName,
  type InterceptionDetail,
  type InterceptionFilter,
  type PageRequest,
  type WorkContext,
  workContextIdOf,
} from '../store.ts';
import { where } from './filter.ts';
import type { Sync } from './protocol.ts';
import { decodeAll } from './rows.ts';
import { idList, type Row, type Sql } from './sql.ts';

/** Interceptions with everything recorded under them, as the audit shows them; shared by audit and page parts. */
export class Details {
  readonly #sql: Sql;
  readonly #identity: Sync<'identity'>;

  constructor(sql: Sql, identity: Sync<'identity'>) {
    this.#sql = sql;
    this.#identity = identity;
  }

  /** One page of interceptions in (started_at desc, id desc) order: their documents, or only their keys. */
  page(columns: 'doc' | 'id, started_at', filter: InterceptionFilter, page: PageRequest): Row[] {
    const w = where(filter, page.after);
    return this.#sql.all(
      `SELECT ${columns} FROM interceptions ${w.sql} ORDER BY started_at DESC, id DESC LIMIT ? OFFSET ?`,
      [...w.params, page.limit, page.offset ?? 0],
    );
  }

  /** Interception rows (their `doc`) with their children and initiator, in the rows' order. */
  expand(rows: Row[]): InterceptionDetail[] {
    const interceptions = decodeAll<InterceptionRecord>(COLLECTIONS.interceptions, rows);
    if (!interceptions.length) return [];
    const list = idList(interceptions.map((i) => i._id));
    const prompts = this.#children<UserPromptRecord>(COLLECTIONS.userPrompts, list);
    const tokens = this.#children<TokenUsageRecord>(COLLECTIONS.tokenUsages, list);
    const tools = this.#children<ToolUsageRecord>(COLLECTIONS.toolUsages, list);
    const thoughts = this.#children<ModelThoughtRecord>(COLLECTIONS.modelThoughts, list);
    const annotations = this.#children<AnnotationRecord>(COLLECTIONS.annotations, list);
    const work = this.#work(interceptions);
    const users = new Map(
      this.#identity.usersByIds([...new Set(interceptions.map((i) => i.initiator_id))]).map((u) => [u._id, u]),
    );
    return interceptions.map((interception) => {
      const user = users.get(interception.initiator_id);
      const id = interception._id;
      return {
        interception,
        initiator: user ? { username: user.username, name: user.name } : null,
        user_prompts: prompts.get(id) ?? [],
        token_usages: tokens.get(id) ?? [],
        tool_usages: tools.get(id) ?? [],
        model_thoughts: thoughts.get(id) ?? [],
        annotations: annotations.get(id) ?? [],
        work: work.get(workContextIdOf(interception)) ?? null,
      };
    });
  }

  /** The work contexts of these interceptions, by id. */
  #work(interceptions: InterceptionRecord[]): Map<string, WorkContext> {
    const ids = idList([...new Set(interceptions.map(workContextIdOf))]);
    const rows = this.#sql.all('SELECT doc FROM work_contexts WHERE id IN (SELECT value FROM json_each(?))', [ids]);
    return new Map(decodeAll<WorkContext>(COLLECTIONS.workContexts, rows).map((w) => [w._id, w]));
  }

  #children<T extends { interception_id: string | null }>(collection: CollectionName, list: string): Map<string, T[]> {
    const groups = new Map<string, T[]>();
    const rows = this.#sql.all(
      `SELECT doc FROM ${collection} WHERE interception_id IN (SELECT value FROM json_each(?)) ORDER BY created_at, id`,
      [list],
    );
    for (const doc of decodeAll<T>(collection, rows)) {
      const parent = doc.interception_id as string; // found by it, so never null
      const group = groups.get(parent);
      if (group) group.push(doc);
      else groups.set(parent, [doc]);
    }
    return groups;
  }
}
