import type { Db } from 'mongodb';
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
  type IdentityStore,
  type InterceptionDetail,
  type WorkContext,
  workContextIdOf,
} from '../store.ts';

/** Interceptions with everything recorded under them, as the audit shows them. */
export class Details {
  readonly #db: Db;
  readonly #identity: IdentityStore;
  constructor(db: Db, identity: IdentityStore) {
    this.#db = db;
    this.#identity = identity;
  }

  /** Interceptions with their children and initiator, in the given order. */
  async expand(rows: InterceptionRecord[]): Promise<InterceptionDetail[]> {
    if (!rows.length) return [];
    const ids = rows.map((r) => r._id);
    const [prompts, tokens, tools, thoughts, annotations, work, users] = await Promise.all([
      this.#children<UserPromptRecord>(COLLECTIONS.userPrompts, ids),
      this.#children<TokenUsageRecord>(COLLECTIONS.tokenUsages, ids),
      this.#children<ToolUsageRecord>(COLLECTIONS.toolUsages, ids),
      this.#children<ModelThoughtRecord>(COLLECTIONS.modelThoughts, ids),
      this.#children<AnnotationRecord>(COLLECTIONS.annotations, ids),
      this.#db
        .collection<WorkContext>(COLLECTIONS.workContexts)
        .find({ _id: { $in: [...new Set(rows.map(workContextIdOf))] } })
        .toArray(),
      this.#identity.usersByIds([...new Set(rows.map((r) => r.initiator_id))]),
    ]);
    const workById = new Map(work.map((w) => [w._id, w]));
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
        annotations: annotations.get(id) ?? [],
        work: workById.get(workContextIdOf(interception)) ?? null,
      };
    });
  }

  async #children<T extends { interception_id: string | null }>(
    collection: string,
    ids: string[],
  ): Promise<Map<string, T[]>> {
    const docs = (await this.#db
      .collection(collection)
      .find({ interception_id: { $in: ids } })
      .sort({ created_at: 1, _id: 1 })
      .toArray()) as unknown as T[];
    const groups = new Map<string, T[]>();
    for (const doc of docs) {
      const parent = doc.interception_id as string; // found by it, so never null
      const group = groups.get(parent);
      if (group) group.push(doc);
      else groups.set(parent, [doc]);
    }
    return groups;
  }
}
