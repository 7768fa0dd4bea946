import type { AnyBulkWriteOperation, Db, Document } from 'mongodb';
import { type ChainCursor, type ChainLinkDoc, sameRecord } from '../chain.ts';
import {
  type AnnotationRecord,
  type InterceptionEnd,
  type InterceptionRecord,
  type RecordOp,
  routedOf,
  type ToolResultRecord,
  type ToolUsageRecord,
} from '../records.ts';
import { withResult } from '../results.ts';
import {
  CHILD_COLLECTION_OF,
  CHILD_COLLECTIONS,
  COLLECTIONS,
  RECORD_COLLECTIONS,
  type RecordCollection,
  type RecordStore,
  type WorkContext,
  workKeyOf,
} from '../store.ts';
import { withAnnotation } from '../work.ts';
import { anchorSteps, keepAnchors, MongoChainWriter } from './chain.ts';
import { DUPLICATE_KEY } from './errors.ts';
import { clientToolCall } from './tool-calls.ts';
import { bulkInChunks, type Entity, insertIgnoringDuplicates } from './writes.ts';

type Stored = Entity & Record<string, unknown>;

/** A change to a stored record: what it becomes (the end of an interception, later a tool's result). */
interface Change {
  collection: RecordCollection;
  id: string;
  apply(current: Stored): Stored;
}

/** The end of an interception; `ifRunning`: only of one not ended yet (a replayed copy that carries its end). */
function ended(id: string, end: InterceptionEnd, ifRunning = false): Change {
  return {
    collection: COLLECTIONS.interceptions,
    id,
    apply(current) {
      const doc = current as unknown as InterceptionRecord;
      if (ifRunning && doc.ended_at) return current;
      const next: InterceptionRecord = {
        ...doc,
        ended_at: end.ended_at,
        status: end.status,
        cost_usd: end.cost_usd,
        totals: end.totals,
      };
      // Key by key, as the embedded store merges it; where it went (the routed fields) replaced.
      if (end.metadata) next.metadata = { ...doc.metadata, ...end.metadata };
      if (end.routed) Object.assign(next, end.routed);
      return next as unknown as Stored;
    },
  };
}

/** A client tool's result given to its call: the call as it then stands (unchanged when it takes none). */
function answered(id: string, result: ToolResultRecord): Change {
  return {
    collection: COLLECTIONS.toolUsages,
    id,
    apply: (current) => (withResult(current as unknown as ToolUsageRecord, result) ?? current) as unknown as Stored,
  };
}

const totalsOf = (doc: InterceptionRecord) =>
  doc.totals ?? {
    input_tokens: 0,
    output_tokens: 0,
    cache_read_input_tokens: 0,
    cache_write_input_tokens: 0,
    tool_calls: 0,
  };

/** Attempts at inserting one collection's part of a batch when other writers' copies keep turning up. */
const INSERT_ATTEMPTS = 5;

/**
 * Recording and retention. Each batch moves this process's chain (chain.ts): records are
 * stamped in the order they are written — collection by collection, each insert ordered, then
 * the changes — so a write cut short leaves a prefix of its steps, never a hole.
 */
export class MongoRecords implements RecordStore {
  readonly #db: Db;
  readonly #chain: MongoChainWriter;
  /** Batches are written one at a time: each takes the chain where the last one left it. */
  #last: Promise<unknown> = Promise.resolve();

  constructor(db: Db) {
    this.#db = db;
    this.#chain = new MongoChainWriter(db);
  }

  write(ops: RecordOp[]): Promise<void> {
    const run = this.#last.then(
      () => this.#write(ops),
      () => this.#write(ops),
    );
    this.#last = run.catch(() => {});
    return run;
  }

  async #write(ops: RecordOp[]): Promise<void> {
    if (!ops.length) return;
    const inserts = new Map<string, Stored[]>();
    const changes: Change[] = [];
    const results: ToolResultRecord[] = [];
    for (const op of ops) {
      if (op.kind === 'interception_ended') {
        changes.push(ended(op.id, op));
        continue;
      }
      if (op.kind === 'tool_result') {
        results.push(op.doc);
        continue;
      }
      const collection = op.kind === 'interception' ? COLLECTIONS.interceptions : CHILD_COLLECTION_OF[op.kind];
      const list = inserts.get(collection) ?? [];
      list.push(op.doc as unknown as Stored);
      inserts.set(collection, list);
    }
    try {
      const chain = await this.#chain.cursor();
      const start = chain.seq;
      const replayedEnds: Change[] = [];
      let newAnnotations: AnnotationRecord[] = [];
      // The record collections in a fixed order (so are the steps), then any other a new kind of record uses.
      const order = [...new Set<string>([...RECORD_COLLECTIONS, ...inserts.keys()])];
      for (const collection of order) {
        const docs = inserts.get(collection);
        if (!docs?.length) continue;
        const met = await this.#insert(chain, collection, docs);
        if (collection === COLLECTIONS.annotations) {
          const seen = new Set(met.map((d) => d._id));
          newAnnotations = (docs as unknown as AnnotationRecord[]).filter((d) => !seen.has(d._id));
        }
        // An interception written before (a replayed journal) takes the end fields this copy carries.
        if (collection !== COLLECTIONS.interceptions) continue;
        for (const doc of met as unknown as InterceptionRecord[]) {
          if (!doc.ended_at || !doc.status) continue;
          const { ended_at, status, cost_usd, metadata } = doc;
          const end = { ended_at, status, cost_usd, totals: totalsOf(doc), metadata, routed: routedOf(doc) };
          replayedEnds.push(ended(doc._id, end, true));
        }
      }
      // After the inserts: a result may answer a call of the same batch; each answers in order,
      // the first result of a call stays (later ones change nothing, so take no step).
      const answers: Change[] = [];
      for (const result of results) {
        const call = await clientToolCall(this.#db, result.initiator_id, result.tool_call_id, result.created_at);
        if (call) answers.push(answered(call._id, result));
      }
      await this.#change(chain, [...replayedEnds, ...changes, ...answers]);
      for (const annotation of newAnnotations) await this.#annotate(annotation);
      if (chain.seq !== start) await this.#chain.saveHead(chain);
    } catch (err) {
      this.#chain.lost();
      throw err;
    }
  }

  /**
   * Inserts one collection's records at the next steps, in order; returns those that met an
   * existing _id (a replay), which take no step. Existing ids are looked up first: FerretDB 1.24
   * can drop the connection answering an insert with several duplicate-key errors.
   */
  async #insert(chain: ChainCursor, collection: string, docs: Stored[]): Promise<Stored[]> {
    const met: Stored[] = [];
    const seen = new Set<string>();
    let pending = docs.filter((d) => !seen.has(d._id) && seen.add(d._id));
    for (let attempt = 1; pending.length; attempt++) {
      const found = await this.#db
        .collection<Entity>(collection)
        .find({ _id: { $in: pending.map((d) => d._id) } }, { projection: { _id: 1 } })
        .toArray();
      const existing = new Set(found.map((d) => d._id));
      met.push(...pending.filter((d) => existing.has(d._id)));
      const fresh = pending.filter((d) => !existing.has(d._id));
      if (!fresh.length) break;
      const { seq, hash } = chain;
      const stamped = fresh.map((doc) => chain.stamp(collection, doc));
      try {
        await this.#db
          .collection<Document>(collection)
          .insertMany(stamped as Document[], { ordered: true, ignoreUndefined: true });
        break;
      } catch (err) {
        // Another writer got one in between: the ones before it are in, at their steps.
        const at = duplicateAt(err);
        if (at === undefined || attempt >= INSERT_ATTEMPTS) throw err;
        const last = stamped[at - 1];
        if (last) chain.rewind(last.seq as number, last.hash as string);
        else chain.rewind(seq, hash);
        pending = fresh.slice(at);
      }
    }
    return met;
  }

  /** Applies changes in order, each a step of its own; one that changes nothing (a replay) takes none. */
  async #change(chain: ChainCursor, changes: Change[]): Promise<void> {
    if (!changes.length) return;
    const current = new Map<string, Stored>();
    for (const collection of new Set(changes.map((c) => c.collection))) {
      const ids = [...new Set(changes.filter((c) => c.collection === collection).map((c) => c.id))];
      const docs = await this.#db
        .collection<Stored>(collection)
        .find({ _id: { $in: ids } } as Document)
        .toArray();
      for (const doc of docs) current.set(`${collection}/${doc._id}`, doc);
    }
    const links: ChainLinkDoc[] = [];
    const replaces: Array<{ collection: RecordCollection; op: AnyBulkWriteOperation<Entity> }> = [];
    for (const change of changes) {
      const key = `${change.collection}/${change.id}`;
      const doc = current.get(key);
      if (!doc) continue; // its insert never reached the store; nothing to change
      const next = change.apply(doc);
      if (sameRecord(doc, next)) continue;
      const { record, link } = chain.restamp(change.collection, doc, next);
      current.set(key, record);
      if (link) links.push(link);
      replaces.push({
        collection: change.collection,
        op: { replaceOne: { filter: { _id: change.id }, replacement: record } },
      });
    }
    // Links first: one written without its change is harmless (the record still holds the step).
    if (links.length) await insertIgnoringDuplicates(this.#db, COLLECTIONS.chainLinks, links);
    for (let i = 0; i < replaces.length; ) {
      const collection = (replaces[i] as (typeof replaces)[number]).collection;
      let end = i;
      while (end < replaces.length && replaces[end]?.collection === collection) end++;
      await bulkInChunks(
        this.#db,
        collection,
        replaces.slice(i, end).map((r) => r.op),
      );
      i = end;
    }
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
    if (ids.length) await keepAnchors(this.#db, ids);
    const children: Record<string, number> = {};
    for (const name of CHILD_COLLECTIONS) {
      children[name] = ids.length
        ? (await this.#db.collection(name).deleteMany({ interception_id: { $in: ids } })).deletedCount
        : 0;
    }
    const deleted = ids.length ? (await interceptions.deleteMany({ _id: { $in: ids } })).deletedCount : 0;
    if (ids.length < limit) {
      // The last batch: annotations that found no interception (their steps anchored first), and
      // contexts nothing added to since.
      const orphans = { interception_id: null, created_at: { $lt: cutoff } };
      await anchorSteps(this.#db, [{ collection: COLLECTIONS.annotations, filter: orphans }]);
      children[COLLECTIONS.annotations] =
        (children[COLLECTIONS.annotations] ?? 0) +
        (await this.#db.collection(COLLECTIONS.annotations).deleteMany(orphans)).deletedCount;
      children[COLLECTIONS.workContexts] = (
        await this.#db.collection(COLLECTIONS.workContexts).deleteMany({ updated_at: { $lt: cutoff } })
      ).deletedCount;
    }
    return { interceptions: deleted, children };
  }
}

/** The index of the document an ordered insert stopped at for a duplicate _id; undefined for any other failure. */
function duplicateAt(err: unknown): number | undefined {
  const writeErrors = (err as { writeErrors?: unknown }).writeErrors;
  const errors = (Array.isArray(writeErrors) ? writeErrors : writeErrors ? [writeErrors] : []) as Array<{
    code?: number;
    index?: number;
  }>;
  const first = errors[0];
  if (first?.code === DUPLICATE_KEY && typeof first.index === 'number') return first.index;
  const code = (err as { code?: number }).code;
  const inserted = (err as { result?: { insertedCount?: number } }).result?.insertedCount;
  return code === DUPLICATE_KEY && typeof inserted === 'number' ? inserted : undefined;
}
