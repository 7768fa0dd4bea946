import type { AnyBulkWriteOperation, Db, Document } from 'mongodb';
import type { Logger } from '../observability/logger.ts';
import { COLLECTIONS } from '../store/mongo.ts';
import type { RecordOp } from './records.ts';

const COLLECTION_OF = {
  interception: COLLECTIONS.interceptions,
  user_prompt: COLLECTIONS.userPrompts,
  token_usage: COLLECTIONS.tokenUsages,
  tool_usage: COLLECTIONS.toolUsages,
  model_thought: COLLECTIONS.modelThoughts,
  interception_ended: COLLECTIONS.interceptions,
} as const;

export interface RecorderStats {
  pending: number;
  written: number;
  dropped: number;
}

export interface RecorderOptions {
  /** How long records may wait to be batched. */
  flushIntervalMs?: number;
  batchSize?: number;
  /** Records kept in memory while MongoDB is away; beyond it the oldest are dropped (and counted). */
  maxPending?: number;
  onWritten?: (count: number) => void;
}

/**
 * Takes records from the request path without waiting, and writes them in batches:
 * inserts per collection (unordered, ids chosen by the bridge, so a retried batch
 * only meets duplicate-key errors, which mean "already written"), then the updates.
 * While MongoDB is unreachable it keeps them, in order, and retries with backoff.
 */
export class Recorder {
  readonly #db: Db;
  readonly #log: Logger;
  readonly #queue: RecordOp[] = [];
  readonly #intervalMs: number;
  readonly #batchSize: number;
  readonly #maxPending: number;
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #backoffMs = 0;
  #written = 0;
  #dropped = 0;
  #closed = false;
  readonly #onWritten?: (count: number) => void;

  constructor(db: Db, log: Logger, options: RecorderOptions = {}) {
    this.#db = db;
    this.#log = log;
    this.#intervalMs = options.flushIntervalMs ?? 50;
    this.#batchSize = options.batchSize ?? 1_000;
    this.#maxPending = options.maxPending ?? 100_000;
    this.#onWritten = options.onWritten;
  }

  record(op: RecordOp): void {
    if (this.#queue.length >= this.#maxPending) {
      this.#queue.shift();
      this.#dropped++;
    }
    this.#queue.push(op);
    this.#schedule(this.#intervalMs);
  }

  stats(): RecorderStats {
    return { pending: this.#queue.length, written: this.#written, dropped: this.#dropped };
  }

  #schedule(delayMs: number): void {
    if (this.#timer || this.#flushing || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, delayMs);
  }

  /** Writes everything queued so far; resolves when it is in MongoDB or the attempt failed. */
  async flush(): Promise<void> {
    if (this.#flushing) return this.#flushing;
    this.#flushing = this.#drain().finally(() => {
      this.#flushing = undefined;
      if (this.#queue.length) this.#schedule(this.#backoffMs || this.#intervalMs);
    });
    return this.#flushing;
  }

  async #drain(): Promise<void> {
    while (this.#queue.length) {
      const batch = this.#queue.slice(0, this.#batchSize);
      try {
        await this.#write(batch);
      } catch (err) {
        this.#backoffMs = Math.min(Math.max(this.#backoffMs * 2, 250), 5_000);
        this.#log.warn(
          { err: (err as Error).message, pending: this.#queue.length },
          'recorder: MongoDB write failed; will retry',
        );
        return;
      }
      this.#queue.splice(0, batch.length);
      this.#backoffMs = 0;
      this.#written += batch.length;
      this.#onWritten?.(batch.length);
    }
  }

  async #write(batch: RecordOp[]): Promise<void> {
    const inserts = new Map<string, Document[]>();
    const updates: AnyBulkWriteOperation<{ _id: string }>[] = [];
    for (const op of batch) {
      if (op.kind === 'interception_ended') {
        const set: Document = { ended_at: op.ended_at, status: op.status };
        for (const [key, value] of Object.entries(op.metadata ?? {})) set[`metadata.${key}`] = value;
        updates.push({ updateOne: { filter: { _id: op.id }, update: { $set: set } } });
      } else {
        const name = COLLECTION_OF[op.kind];
        const docs = inserts.get(name) ?? [];
        docs.push(op.doc);
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
    if (updates.length) {
      await this.#db.collection<{ _id: string }>(COLLECTIONS.interceptions).bulkWrite(updates, { ordered: true });
    }
  }

  /** Stops the timer and writes what is left, trying for at most `timeoutMs`. */
  async close(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    while (this.#queue.length && Date.now() < deadline) {
      await this.flush();
      if (this.#queue.length) await new Promise((r) => setTimeout(r, Math.min(250, this.#backoffMs || 50)));
    }
    this.#closed = true;
    if (this.#queue.length)
      this.#log.error({ pending: this.#queue.length }, 'recorder: records not written at shutdown');
  }
}
