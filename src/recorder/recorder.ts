import type { AnyBulkWriteOperation, Db, Document } from 'mongodb';
import type { Logger } from '../observability/logger.ts';
import { COLLECTIONS } from '../store/mongo.ts';
import type { Journal } from './journal.ts';
import type { RecordOp } from './records.ts';

const COLLECTION_OF = {
  interception: COLLECTIONS.interceptions,
  user_prompt: COLLECTIONS.userPrompts,
  token_usage: COLLECTIONS.tokenUsages,
  tool_usage: COLLECTIONS.toolUsages,
  model_thought: COLLECTIONS.modelThoughts,
  interception_ended: COLLECTIONS.interceptions,
} as const;

const UPDATE_CHUNK = 50;

export interface RecorderStats {
  /** Records in memory, not yet written. */
  pending: number;
  /** Records appended to the journal since start. */
  journaled: number;
  /** True while records wait in the journal for MongoDB. */
  journalPending: boolean;
  written: number;
  /** Records lost (only when even the journal could not be written). */
  dropped: number;
}

export interface RecorderOptions {
  /** How long records may wait to be batched. */
  flushIntervalMs?: number;
  batchSize?: number;
  /** Records held in memory before they overflow into the journal. */
  maxMemory?: number;
  journal?: Journal;
}

/**
 * Takes records from the request path without waiting and writes them in batches:
 * inserts per collection (unordered; ids are the bridge's, so a retried batch only meets
 * duplicate keys, which mean "already written"), then the updates. When a write fails or
 * memory fills, records go to the append-only journal, and every later record follows
 * them there until the journal has been replayed, so MongoDB receives them in order.
 */
export class Recorder {
  readonly #db: Db;
  readonly #log: Logger;
  readonly #journal: Journal | undefined;
  readonly #intervalMs: number;
  readonly #batchSize: number;
  readonly #maxMemory: number;
  #queue: RecordOp[] = [];
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #backoffMs = 0;
  #spilling = false;
  #closed = false;
  /** Shutdown deadline: write loops stop after the batch in hand once it has passed. */
  #stopAt = Number.POSITIVE_INFINITY;
  #written = 0;
  #journaled = 0;
  #dropped = 0;

  constructor(db: Db, log: Logger, options: RecorderOptions = {}) {
    this.#db = db;
    this.#log = log;
    this.#journal = options.journal;
    this.#intervalMs = options.flushIntervalMs ?? 50;
    this.#batchSize = options.batchSize ?? 1_000;
    this.#maxMemory = options.maxMemory ?? 10_000;
    this.#spilling = this.#journal?.pending ?? false;
    if (this.#spilling) this.#schedule(0); // replay what a previous run left
  }

  record(op: RecordOp): void {
    if (this.#spilling && this.#journal) {
      this.#toJournal([op]);
    } else {
      this.#queue.push(op);
      if (this.#queue.length >= this.#maxMemory) this.#spill();
    }
    this.#schedule(this.#intervalMs);
  }

  stats(): RecorderStats {
    return {
      pending: this.#queue.length,
      journaled: this.#journaled,
      journalPending: this.#journal?.pending ?? false,
      written: this.#written,
      dropped: this.#dropped,
    };
  }

  #toJournal(ops: RecordOp[]): void {
    try {
      for (const op of ops) this.#journal?.append(op);
      this.#journaled += ops.length;
    } catch (err) {
      this.#dropped += ops.length;
      this.#log.error(
        { err: (err as Error).message, count: ops.length },
        'recorder: journal append failed; records dropped',
      );
    }
  }

  /** Moves the memory queue into the journal; from now on records go there first. */
  #spill(): void {
    if (!this.#journal) {
      // No journal configured: keep the newest records within the memory bound.
      const excess = this.#queue.length - this.#maxMemory;
      if (excess > 0) {
        this.#queue.splice(0, excess);
        this.#dropped += excess;
      }
      return;
    }
    this.#spilling = true;
    const ops = this.#queue;
    this.#queue = [];
    this.#toJournal(ops);
  }

  #schedule(delayMs: number): void {
    if (this.#timer || this.#running || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, delayMs);
    this.#timer.unref();
  }

  /** One attempt to write everything queued (and journaled); resolves when that attempt ends. */
  flush(): Promise<void> {
    this.#running ??= this.#drain()
      .catch((err: Error) => {
        this.#backoffMs = Math.min(Math.max(this.#backoffMs * 2, 250), 5_000);
        this.#log.warn({ err: err.message, ...this.stats() }, 'recorder: MongoDB write failed; will retry');
        if (this.#queue.length) this.#spill();
      })
      .finally(() => {
        this.#running = undefined;
        if (this.#queue.length || this.#spilling) this.#schedule(this.#backoffMs || this.#intervalMs);
      });
    return this.#running;
  }

  async #drain(): Promise<void> {
    if (this.#spilling) await this.#replay();
    while (this.#queue.length && !this.#spilling && Date.now() < this.#stopAt) {
      const batch = this.#queue.slice(0, this.#batchSize);
      await this.#write(batch);
      this.#queue.splice(0, batch.length);
      this.#written += batch.length;
    }
    this.#backoffMs = 0;
  }

  /** Writes the journal back, oldest segment first; memory mode resumes once it is empty. */
  async #replay(): Promise<void> {
    const journal = this.#journal;
    if (!journal) return;
    await journal.rotate();
    for (let path = journal.oldest(); path; path = journal.oldest()) {
      for await (const batch of journal.read(path, this.#batchSize)) {
        await this.#write(batch);
        this.#written += batch.length;
        if (Date.now() >= this.#stopAt) return; // shutting down: the segment stays for the next start
      }
      await journal.remove(path);
      if (!journal.oldest()) await journal.rotate(); // pick up what arrived meanwhile
    }
    if (!journal.pending) {
      this.#spilling = false;
      this.#log.info({ written: this.#written }, 'recorder: journal replayed; writing directly again');
    }
  }

  async #write(batch: RecordOp[]): Promise<void> {
    const inserts = new Map<string, Document[]>();
    const started = new Map<string, Document>();
    const updates: AnyBulkWriteOperation<{ _id: string }>[] = [];
    for (const op of batch) {
      if (op.kind === 'interception_ended') {
        const doc = started.get(op.id);
        if (doc) {
          // Started and ended within one batch: one insert instead of an insert and an update.
          Object.assign(doc, { ended_at: op.ended_at, status: op.status });
          doc.metadata = { ...doc.metadata, ...op.metadata };
          continue;
        }
        const set: Document = { ended_at: op.ended_at, status: op.status };
        for (const [key, value] of Object.entries(op.metadata ?? {})) set[`metadata.${key}`] = value;
        updates.push({ updateOne: { filter: { _id: op.id }, update: { $set: set } } });
      } else {
        const doc: Document = op.kind === 'interception' ? { ...op.doc } : op.doc;
        if (op.kind === 'interception') started.set(op.doc._id, doc);
        const name = COLLECTION_OF[op.kind];
        const docs = inserts.get(name) ?? [];
        docs.push(doc);
        inserts.set(name, docs);
      }
    }
    await Promise.all(
      [...inserts].map(([name, docs]) =>
        this.#db
          .collection(name)
          .insertMany(docs, { ordered: false })
          .catch((err: { code?: number; writeErrors?: Array<{ code: number }> }) => {
            const errors = err.writeErrors ?? (err.code ? [{ code: err.code }] : []);
            if (!errors.length || errors.some((e) => e.code !== 11000)) throw err;
          }),
      ),
    );
    // FerretDB 1.24 stalls on an update command of 100 or more statements, so updates go in chunks.
    const interceptions = this.#db.collection<{ _id: string }>(COLLECTIONS.interceptions);
    for (let i = 0; i < updates.length; i += UPDATE_CHUNK) {
      await interceptions.bulkWrite(updates.slice(i, i + UPDATE_CHUNK), { ordered: true });
    }
  }

  /**
   * Shutdown: tries to write everything for up to `timeoutMs`; whatever MongoDB did not
   * take by then is appended to the journal (and replayed by the next start).
   */
  async close(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    this.#stopAt = deadline;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    while ((this.#queue.length || this.#spilling) && Date.now() < deadline) {
      await this.flush();
      if (this.#queue.length || this.#spilling)
        await new Promise((r) => setTimeout(r, Math.min(250, this.#backoffMs || 50)));
    }
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#running;
    if (this.#queue.length) this.#spill();
    await this.#journal?.close();
    if (this.#queue.length) this.#log.error({ pending: this.#queue.length }, 'recorder: records lost at shutdown');
  }
}
