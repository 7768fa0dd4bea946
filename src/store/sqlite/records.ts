import { type ChainAnchorDoc, type ChainCursor, type ChainFields, purgedInto, sameRecord } from '../chain.ts';
import { decodeOp, lineContent } from '../codec.ts';
import {
  type AnnotationRecord,
  type InterceptionEnd,
  type InterceptionRecord,
  type RecordOp,
  routedOf,
} from '../records.ts';
import { withResult } from '../results.ts';
import {
  CHILD_COLLECTION_OF,
  CHILD_COLLECTIONS,
  COLLECTIONS,
  type CollectionName,
  DAY_MS,
  type PurgeBatch,
  RECORD_COLLECTIONS,
  type WorkContext,
  workKeyOf,
} from '../store.ts';
import { withAnnotation } from '../work.ts';
import { EmbeddedChainHead } from './chain-head.ts';
import type { Sync } from './protocol.ts';
import { ROLLUP_PRUNE } from './rollup.ts';
import { idList, type Sql } from './sql.ts';
import { clientToolCall } from './tool-calls.ts';

/**
 * Recording and retention: every write in one transaction per batch, which also moves the
 * file's chain (chain.ts): each record inserted, and each change to one, is the next step.
 */
export class EmbeddedRecords implements Sync<'records'> {
  readonly #sql: Sql;
  readonly #head: EmbeddedChainHead;

  constructor(sql: Sql) {
    this.#sql = sql;
    this.#head = new EmbeddedChainHead(sql);
  }

  writeLines(lines: string[]): void {
    this.#write(lines.map(decodeOp), lines);
  }

  write(ops: RecordOp[]): void {
    this.#write(ops);
  }

  /** `lines`, when given, are the ops' journal lines: a record's hashed content is read off its line. */
  #write(ops: RecordOp[], lines?: string[]): void {
    this.#sql.transaction(() => {
      const chain = this.#head.open();
      const start = chain.seq;
      for (const [i, op] of ops.entries()) {
        const content = lines && lineContent(lines[i] as string, op.kind);
        if (op.kind === 'interception_ended') {
          this.#end(chain, op.id, op);
        } else if (op.kind === 'interception') {
          const inserted = this.#insert(chain, COLLECTIONS.interceptions, op.doc, content);
          if (!inserted && op.doc.ended_at && op.doc.status) {
            const { ended_at, status, cost_usd, totals, metadata } = op.doc;
            const end = {
              ended_at,
              status,
              cost_usd,
              totals: totals ?? emptyTotals(),
              metadata,
              routed: routedOf(op.doc),
            };
            this.#end(chain, op.doc._id, end, true);
          }
        } else if (op.kind === 'tool_result') {
          const call = clientToolCall(this.#sql, op.doc.initiator_id, op.doc.tool_call_id, op.doc.created_at);
          const answered = call && withResult(call, op.doc);
          // The usage moves to a new step of the chain, as it now stands (its result in it).
          if (answered) this.#change(chain, COLLECTIONS.toolUsages, call, answered);
        } else if (op.kind === 'annotation') {
          if (this.#insert(chain, COLLECTIONS.annotations, op.doc, content)) this.#annotate(op.doc);
        } else {
          this.#insert(chain, CHILD_COLLECTION_OF[op.kind], op.doc, content);
        }
      }
      if (chain.seq !== start) this.#head.save(chain);
    });
  }

  purge(cutoff: Date, limit: number): PurgeBatch {
    return this.#sql.transaction(() => {
      const ids = this.#sql
        .all('SELECT id FROM interceptions WHERE started_at < ? LIMIT ?', [cutoff.getTime(), limit])
        .map((r) => r.id as string);
      const batch: PurgeBatch = { interceptions: 0, children: {} };
      const list = idList(ids);
      if (ids.length) this.#keepAnchors(list);
      for (const name of CHILD_COLLECTIONS) {
        batch.children[name] = ids.length
          ? this.#sql.run(`DELETE FROM ${name} WHERE interception_id IN (SELECT value FROM json_each(?))`, [list])
          : 0;
      }
      if (ids.length) {
        batch.interceptions = this.#sql.run('DELETE FROM interceptions WHERE id IN (SELECT value FROM json_each(?))', [
          list,
        ]);
        this.#sql.run(ROLLUP_PRUNE, [Math.floor(cutoff.getTime() / DAY_MS)]); // days summed down to nothing
      }
      if (ids.length < limit) {
        // The last batch: annotations that found no interception, and contexts nothing added to since.
        const orphans = 'interception_id IS NULL AND created_at < ?';
        this.#anchor([{ collection: COLLECTIONS.annotations, where: orphans, params: [cutoff.getTime()] }]);
        batch.children[COLLECTIONS.annotations] =
          (batch.children[COLLECTIONS.annotations] ?? 0) +
          this.#sql.run('DELETE FROM annotations WHERE interception_id IS NULL AND created_at < ?', [cutoff.getTime()]);
        batch.children[COLLECTIONS.workContexts] = this.#sql.run('DELETE FROM work_contexts WHERE updated_at < ?', [
          cutoff.getTime(),
        ]);
      }
      return batch;
    });
  }

  /** Adds a new annotation to its session's work context. */
  #annotate(annotation: AnnotationRecord): void {
    const key = workKeyOf(annotation);
    if (key === null) return;
    const found = this.#sql.find<WorkContext>(COLLECTIONS.workContexts, key);
    const context = withAnnotation(found, annotation) as WorkContext;
    if (found) this.#sql.replace(COLLECTIONS.workContexts, context);
    else this.#sql.insert(COLLECTIONS.workContexts, context);
  }

  /** Inserts a record at the next step; a record already there (a replay) takes none. */
  #insert(chain: ChainCursor, collection: CollectionName, doc: { _id: string }, content?: string): boolean {
    const { seq, hash } = chain;
    if (this.#sql.insert(collection, chain.stamp(collection, doc, content))) return true;
    chain.rewind(seq, hash);
    return false;
  }

  /**
   * Closes an interception: end fields set, metadata merged key by key (as MongoDB's $set of
   * metadata.k), where it went (the routed fields) replaced. `ifRunning`: only one not ended yet (a replayed copy that carries its end).
   */
  #end(chain: ChainCursor, id: string, end: InterceptionEnd, ifRunning = false): void {
    const doc = this.#sql.find<InterceptionRecord>(COLLECTIONS.interceptions, id);
    if (!doc) return; // its start never reached the store; nothing to attach the end to
    if (ifRunning && doc.ended_at) return;
    const ended: InterceptionRecord = {
      ...doc,
      ended_at: end.ended_at,
      status: end.status,
      cost_usd: end.cost_usd,
      totals: end.totals,
    };
    if (end.metadata) ended.metadata = { ...doc.metadata, ...end.metadata };
    if (end.routed) Object.assign(ended, end.routed);
    this.#change(chain, COLLECTIONS.interceptions, doc, ended);
  }

  /**
   * Replaces a record with its changed self at the next step, noting the step it leaves; a
   * change that changes nothing (a replayed end) takes no step.
   */
  #change<T extends ChainFields & { _id: string }>(
    chain: ChainCursor,
    collection: CollectionName,
    current: T,
    changed: T,
  ): void {
    if (sameRecord(current, changed)) return;
    const { record, link } = chain.restamp(collection, current, changed);
    if (link) this.#sql.insert(COLLECTIONS.chainLinks, link);
    this.#sql.replace(collection, record);
  }

  /**
   * Before records are purged: their steps, and the steps they had left, join their chains'
   * anchors (chain.ts), so the chains still verify from what is kept.
   */
  #keepAnchors(interceptionIds: string): void {
    this.#anchor(
      RECORD_COLLECTIONS.map((collection) => ({
        collection,
        where: `${collection === COLLECTIONS.interceptions ? 'id' : 'interception_id'} IN (SELECT value FROM json_each(?))`,
        params: [interceptionIds],
      })),
    );
  }

  /** The same for records picked otherwise (annotations made outside any interception). */
  #anchor(picks: Array<{ collection: CollectionName; where: string; params: Array<string | number> }>): void {
    const byChain = new Map<string, Array<{ seq: number; hash: string }>>();
    const add = (chain: unknown, seq: unknown, hash: unknown) => {
      if (typeof chain !== 'string' || typeof seq !== 'number' || typeof hash !== 'string') return;
      const steps = byChain.get(chain) ?? [];
      steps.push({ seq, hash });
      byChain.set(chain, steps);
    };
    for (const { collection, where, params } of picks) {
      const rows = this.#sql.all(
        `SELECT id, chain, seq, doc ->> '$.hash' AS hash, doc -> '$.chain_prior' AS prior FROM ${collection} WHERE ${where}`,
        params,
      );
      const left: string[] = [];
      for (const row of rows) {
        add(row.chain, row.seq, row.hash);
        if (typeof row.prior !== 'string') continue;
        left.push(row.id as string);
        for (const step of JSON.parse(row.prior) as Array<{ chain: string; seq: number; hash: string }>)
          add(step.chain, step.seq, step.hash);
      }
      if (left.length)
        this.#sql.run(`DELETE FROM ${COLLECTIONS.chainLinks} WHERE record_id IN (SELECT value FROM json_each(?))`, [
          idList(left),
        ]);
    }
    const now = new Date();
    for (const [chain, steps] of byChain) {
      const anchor = this.#sql.find<ChainAnchorDoc>(COLLECTIONS.chainAnchors, chain);
      const next = purgedInto(anchor, chain, steps, now);
      if (anchor) this.#sql.replace(COLLECTIONS.chainAnchors, next);
      else this.#sql.insert(COLLECTIONS.chainAnchors, next, false);
    }
  }
}

const emptyTotals = () => ({
  input_tokens: 0,
  output_tokens: 0,
  cache_read_input_tokens: 0,
  cache_write_input_tokens: 0,
  tool_calls: 0,
});
