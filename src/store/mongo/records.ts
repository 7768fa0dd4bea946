import type { AnyBulkWriteOperation, Db, Document } from 'mongodb';
import {
  type AnnotationRecord,
  type InterceptionEnd,
  type InterceptionRecord,
  type RecordOp,
  routedOf,
  type ToolResultRecord,
} from '../records.ts';
import { resultFields } from '../results.ts';
import {
  CHILD_COLLECTION_OF,
  CHILD_COLLECTIONS,
  COLLECTIONS,
  type RecordStore,
  type WorkContext,
  workKeyOf,
} from '../store.ts';
import { withAnnotation } from '../work.ts';
import { clientToolCall } from './tool-calls.ts';
import { bulkInChunks, type Entity, insertIgnoringDuplicates } from './writes.ts';

function endUpdate(id: string, end: InterceptionEnd): AnyBulkWriteOperation<Entity> {
  const set: Document = { ended_at: end.ended_at, status: end.status, cost_usd: end.cost_usd, totals: end.totals };
  for (const [key, value] of Object.entries(end.metadata ?? {})) set[`metadata.${key}`] = value;
  if (end.routed) Object.assign(set, end.routed);
  return { updateOne: { filter: { _id: id }, update: { $set: set } } };
}

const totalsOf = (doc: InterceptionRecord) =>
  doc.totals ?? {
    input_tokens: 0,
    output_tokens: 0,
    cache_read_input_tokens: 0,
    cache_write_input_tokens: 0,
    tool_calls: 0,
  };

/** Client tool results of one batch applied at once, at most (each a find and an update). */
const RESULT_PARALLELISM = 16;

/** Recording and retention. */
export class MongoRecords implements RecordStore {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }

  async write(ops: RecordOp[]): Promise<void> {
    const inserts = new Map<string, Entity[]>();
    const ends: AnyBulkWriteOperation<Entity>[] = [];
    const results: ToolResultRecord[] = [];
    for (const op of ops) {
      if (op.kind === 'interception_ended') {
        ends.push(endUpdate(op.id, op));
        continue;
      }
      if (op.kind === 'tool_result') {
        results.push(op.doc);
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
        const routed = routedOf(doc);
        ends.unshift(endUpdate(doc._id, { ended_at, status, cost_usd, totals: totalsOf(doc), metadata, routed }));
      }
    }
    await bulkInChunks(this.#db, COLLECTIONS.interceptions, ends);
    // After the inserts: a result may answer a call of the same batch. Results for one call id go
    // in order (the first one stays); different ones at once.
    const byCall = new Map<string, ToolResultRecord[]>();
    for (const r of results) {
      const key = `${r.initiator_id}\0${r.tool_call_id}`;
      byCall.set(key, [...(byCall.get(key) ?? []), r]);
    }
    const groups = [...byCall.values()];
    for (let i = 0; i < groups.length; i += RESULT_PARALLELISM) {
      await Promise.all(
        groups.slice(i, i + RESULT_PARALLELISM).map(async (group) => {
          for (const r of group) await this.#answer(r);
        }),
      );
    }
    const annotationIndex = [...inserts.keys()].indexOf(COLLECTIONS.annotations);
    if (annotationIndex >= 0) {
      const met = new Set((existing[annotationIndex] ?? []).map((d) => d._id));
      for (const doc of inserts.get(COLLECTIONS.annotations) as AnnotationRecord[]) {
        if (!met.has(doc._id)) await this.#annotate(doc);
      }
    }
  }

  /**
   * Gives a client tool call its result. Not atomic on FerretDB (a conditional update is not):
   * two replicas answering the same call at once may both write; either result is the client's.
   */
  async #answer(result: ToolResultRecord): Promise<void> {
    const call = await clientToolCall(this.#db, result.initiator_id, result.tool_call_id, result.created_at);
    const fields = call && resultFields(call, result);
    if (!fields) return;
    await this.#db
      .collection<Entity>(COLLECTIONS.toolUsages)
      .updateOne({ _id: call._id, result_at: null } as Document, { $set: fields });
  }

  /** Adds a new annotation to its session's work context (read, merged, written back). */
  async #annotate(annotation: AnnotationRecord): Promise<void> {
    const key = workKeyOf(annotation);
    if (key === null) return;
    const contexts = this.#db.collection<WorkContext>(COLLECTIONS.workContexts);
    const context = withAnnotation(await contexts.findOne({ _id: key }), annotation) as WorkContext;
    await contexts.replaceOne({ _id: key }, context, { upsert: true });
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
    if (ids.length < limit) {
      // The last batch: annotations that found no interception, and contexts nothing added to since.
      children[COLLECTIONS.annotations] =
        (children[COLLECTIONS.annotations] ?? 0) +
        (
          await this.#db
            .collection(COLLECTIONS.annotations)
            .deleteMany({ interception_id: null, created_at: { $lt: cutoff } })
        ).deletedCount;
      children[COLLECTIONS.workContexts] = (
        await this.#db.collection(COLLECTIONS.workContexts).deleteMany({ updated_at: { $lt: cutoff } })
      ).deletedCount;
    }
    return { interceptions: deleted, children };
  }
}
