import { decodeOp } from '../codec.ts';
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
  DAY_MS,
  type PurgeBatch,
  type WorkContext,
  workKeyOf,
} from '../store.ts';
import { withAnnotation } from '../work.ts';
import type { Sync } from './protocol.ts';
import { ROLLUP_PRUNE } from './rollup.ts';
import { idList, type Sql } from './sql.ts';
import { clientToolCall } from './tool-calls.ts';

/** Recording and retention: every write in one transaction per batch. */
export class EmbeddedRecords implements Sync<'records'> {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  writeLines(lines: string[]): void {
    this.write(lines.map(decodeOp));
  }

  write(ops: RecordOp[]): void {
    this.#sql.transaction(() => {
      for (const op of ops) {
        if (op.kind === 'interception_ended') {
          this.#end(op.id, op);
        } else if (op.kind === 'interception') {
          const inserted = this.#sql.insert(COLLECTIONS.interceptions, op.doc);
          if (!inserted && op.doc.ended_at && op.doc.status) {
            const { ended_at, status, cost_usd, totals, metadata } = op.doc;
            const routed = routedOf(op.doc);
            this.#end(op.doc._id, { ended_at, status, cost_usd, totals: totals ?? emptyTotals(), metadata, routed });
          }
        } else if (op.kind === 'tool_result') {
          const call = clientToolCall(this.#sql, op.doc.initiator_id, op.doc.tool_call_id, op.doc.created_at);
          const answered = call && withResult(call, op.doc);
          if (answered) this.#sql.replace(COLLECTIONS.toolUsages, answered);
        } else if (op.kind === 'annotation') {
          if (this.#sql.insert(COLLECTIONS.annotations, op.doc)) this.#annotate(op.doc);
        } else {
          this.#sql.insert(CHILD_COLLECTION_OF[op.kind], op.doc);
        }
      }
    });
  }

  purge(cutoff: Date, limit: number): PurgeBatch {
    return this.#sql.transaction(() => {
      const ids = this.#sql
        .all('SELECT id FROM interceptions WHERE started_at < ? LIMIT ?', [cutoff.getTime(), limit])
        .map((r) => r.id as string);
      const batch: PurgeBatch = { interceptions: 0, children: {} };
      const list = idList(ids);
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

  /**
   * Closes an interception: end fields set, metadata merged key by key (as MongoDB's $set of
   * metadata.k), and where it went (the routed fields) replaced.
   */
  #end(id: string, end: InterceptionEnd): void {
    const doc = this.#sql.find<InterceptionRecord>(COLLECTIONS.interceptions, id);
    if (!doc) return; // its start never reached the store; nothing to attach the end to
    doc.ended_at = end.ended_at;
    doc.status = end.status;
    doc.cost_usd = end.cost_usd;
    doc.totals = end.totals;
    if (end.metadata) doc.metadata = { ...doc.metadata, ...end.metadata };
    if (end.routed) Object.assign(doc, end.routed);
    this.#sql.replace(COLLECTIONS.interceptions, doc);
  }
}

const emptyTotals = () => ({
  input_tokens: 0,
  output_tokens: 0,
  cache_read_input_tokens: 0,
  cache_write_input_tokens: 0,
  tool_calls: 0,
});
