import type { AnyBulkWriteOperation, Db, Document } from 'mongodb';
import { type InterceptionEnd, type InterceptionRecord, type RecordOp, routedOf } from '../records.ts';
import { CHILD_COLLECTION_OF, CHILD_COLLECTIONS, COLLECTIONS, type RecordStore } from '../store.ts';
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

/** Recording and retention. */
export class MongoRecords implements RecordStore {
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
        const routed = routedOf(doc);
        ends.unshift(endUpdate(doc._id, { ended_at, status, cost_usd, totals: totalsOf(doc), metadata, routed }));
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
