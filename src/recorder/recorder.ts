import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../observability/logger.ts';
import type { Store } from '../store/store.ts';
import { decodeOp, encodeOp } from './codec.ts';
import { before, type Entry, Journal, type Position } from './journal.ts';
import type { InterceptionRecord, RecordOp } from './records.ts';

export interface RecorderStats {
  /** Records not yet in the store: held, buffered or queued in memory. */
  pending: number;
  /** Bytes of journal the store has not taken yet. */
  backlogBytes: number;
  /** True while the store is behind and records are shipped from the journal on disk. */
  fromDisk: boolean;
  /** Records appended to the journal since start. */
  journaled: number;
  written: number;
  /** Records the store refused for good, kept in data_dir/dead-letter. */
  deadLettered: number;
  /** Records lost: only when the journal could not be written and memory was full too. */
  dropped: number;
  /** Journal appends that failed (disk full, too many open files). */
  journalErrors: number;
}

export interface RecorderOptions {
  /** Holds dead-letter/ (and journal/, unless journalDir says otherwise). */
  dataDir: string;
  /** This process's journal: data_dir/journal, or a directory per worker process. */
  journalDir?: string;
}

/** Records per store write. */
const BATCH_SIZE = 1_000;
/** How long an interception's records wait for its end, to be written as one insert. */
const HOLD_MS = 1_000;
/** Journaled records kept in memory for shipping; beyond it they are read back from disk. */
const MAX_MEMORY = 20_000;

interface Held {
  ops: RecordOp[];
  since: number;
}

/**
 * A journaled record waiting for the store: its line, and the record itself only for a store
 * that takes objects — one that takes lines lets the objects go at once, so they die young
 * instead of outliving a garbage collection or two in the queue.
 */
interface Queued {
  line: string;
  op: RecordOp | undefined;
  end: Position;
}

/** A batch to ship, and where its last record ends in the journal (null: not journaled). */
interface Batch {
  size: number;
  lines: string[] | undefined;
  ops(): RecordOp[];
  end: Position | null;
}

const TICK_MS = 50;
/** Interception ends that may start a shipping pass of their own, per second; beyond, the tick gathers them. */
const PROMPT_SHIPS_PER_SECOND = 20;

const queuedBatch = (queued: Queued[]): Batch => ({
  size: queued.length,
  lines: queued.map((q) => q.line),
  ops: () => queued.map((q) => q.op ?? decodeOp(q.line)),
  end: (queued.at(-1) as Queued).end,
});

/**
 * Takes records from the request path without waiting, and loses none (SPEC §6):
 *  - an interception's records are held together until it ends (or for `holdMs`), so a
 *    short request becomes inserts only — its start and end merged into one document;
 *  - they are appended to the journal when it ends — with those of every interception ending in
 *    the same turn of the event loop, in one write — and the response's last byte waits for that
 *    (durable()), so a crash or kill -9 after a client has its answer loses nothing;
 *  - a shipper writes them to the store in batches and moves the journal's checkpoint on.
 *    While the store is down or behind, records wait in the journal and are read back from
 *    disk in order; a record the store refuses for good goes to data_dir/dead-letter.
 */
export class Recorder {
  readonly #store: Store;
  readonly #log: Logger;
  readonly #journal: Journal;
  readonly #deadLetterDir: string;
  readonly #held = new Map<string, Held>();
  #buffer: RecordOp[] = [];
  #queue: Queued[] = [];
  /** Whether the store takes only objects: then the queue keeps them (else the lines do). */
  readonly #keepOps: boolean;
  /** Records the journal could not take: in memory only, shipped after the journaled ones. */
  #volatile: RecordOp[] = [];
  #fromDisk = true; // a previous run may have left records; the first pass reads the journal
  /** The journal append the interceptions ending in this turn wait for (group commit). */
  #commit: { done: Promise<void> } | undefined;
  readonly #timer: NodeJS.Timeout;
  #shipping: Promise<void> | undefined;
  /** Passes an interception's end may still start at once (refilled at PROMPT_SHIPS_PER_SECOND). */
  #promptShips = PROMPT_SHIPS_PER_SECOND;
  #promptShipsAt = Date.now();
  #retryAt = 0;
  #backoffMs = 0;
  #closed = false;
  /** Shutdown deadline: shipping stops after the batch in hand once it has passed. */
  #stopAt = Number.POSITIVE_INFINITY;
  readonly #stats = { journaled: 0, written: 0, deadLettered: 0, dropped: 0, journalErrors: 0 };

  constructor(store: Store, log: Logger, options: RecorderOptions) {
    this.#store = store;
    this.#log = log;
    this.#journal = new Journal(options.journalDir ?? join(options.dataDir, 'journal'));
    this.#deadLetterDir = join(options.dataDir, 'dead-letter');
    this.#keepOps = !store.records.writeLines;
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
    this.#timer.unref();
    this.#kick();
  }

  record(op: RecordOp): void {
    switch (op.kind) {
      case 'interception':
        this.#held.set(op.doc._id, { ops: [op], since: Date.now() });
        return;
      case 'interception_ended': {
        const held = this.#held.get(op.id);
        if (held) {
          this.#held.delete(op.id);
          const start = held.ops[0] as { kind: 'interception'; doc: InterceptionRecord };
          const { ended_at, status, cost_usd, totals, metadata } = op;
          const doc = { ...start.doc, ended_at, status, cost_usd, totals };
          if (metadata) doc.metadata = { ...start.doc.metadata, ...metadata };
          held.ops[0] = { kind: 'interception', doc };
          this.#buffer.push(...held.ops);
        } else {
          this.#buffer.push(op);
        }
        this.#commitSoon(); // on disk before the response ends: durable() waits for it
        return;
      }
      default: {
        const held = this.#held.get(op.doc.interception_id);
        if (held) held.ops.push(op);
        else this.#buffer.push(op);
      }
    }
  }

  /** Resolves once every record handed over so far is in the journal; undefined when it already is. */
  durable(): Promise<void> | undefined {
    return this.#commit?.done;
  }

  /**
   * Group commit: the interceptions that end in one turn of the event loop are appended to the
   * journal in one write, once that turn's I/O callbacks have run (setImmediate), and each
   * response's last bytes wait for it (durable()). Under load that is one write for several
   * requests; alone, a request waits a few microseconds more.
   */
  #commitSoon(): void {
    if (this.#commit) return;
    let resolve = () => {};
    const done = new Promise<void>((r) => {
      resolve = r;
    });
    this.#commit = { done };
    setImmediate(() => {
      this.#commit = undefined;
      try {
        this.#flushBuffer();
        // In the store at once while the load is light; under load the tick gathers them into bigger batches.
        if (this.#takePromptShip() || this.#queue.length >= BATCH_SIZE) this.#kick();
      } finally {
        resolve(); // whatever happened, no response waits forever (a failed append keeps the records in memory)
      }
    });
  }

  stats(): RecorderStats {
    let held = 0;
    for (const h of this.#held.values()) held += h.ops.length;
    const journal = this.#journal;
    return {
      pending: held + this.#buffer.length + this.#queue.length + this.#volatile.length,
      // Read when asked (it lists the journal's files): a scrape reads every other figure too.
      get backlogBytes() {
        return journal.backlogBytes;
      },
      fromDisk: this.#fromDisk,
      ...this.#stats,
    };
  }

  /** Releases interceptions held past `holdMs` (long streams), journals the buffer, ships. */
  #tick(): void {
    const cutoff = Date.now() - HOLD_MS;
    for (const [id, held] of this.#held) {
      if (held.since > cutoff) continue;
      this.#held.delete(id);
      this.#buffer.push(...held.ops);
    }
    this.#flushBuffer();
    this.#kick();
  }

  #flushBuffer(): void {
    if (!this.#buffer.length) return;
    const ops = this.#buffer;
    this.#buffer = [];
    let entries: Entry[];
    try {
      entries = this.#journal.append(ops);
      this.#stats.journaled += ops.length;
    } catch (err) {
      // Never crash on a file error: keep the records in memory and say so, once per burst.
      if (this.#stats.journalErrors++ % 1_000 === 0)
        this.#log.error({ err: (err as Error).message, records: ops.length }, 'recorder: journal append failed');
      this.#volatile.push(...ops);
      const excess = this.#volatile.length - MAX_MEMORY;
      if (excess > 0) {
        this.#volatile.splice(0, excess);
        this.#stats.dropped += excess;
      }
      return;
    }
    if (this.#fromDisk) return; // the shipper reads them back from the journal
    for (const { line, op, end } of entries) this.#queue.push({ line, op: this.#keepOps ? op : undefined, end });
    if (this.#queue.length > MAX_MEMORY) {
      // The store is behind: stop holding journaled records in memory; ship from disk.
      this.#queue = [];
      this.#fromDisk = true;
    }
  }

  /** Whether an interception's end may start a shipping pass now (a token bucket, so a burst cannot). */
  #takePromptShip(): boolean {
    if (this.#shipping) return false;
    const now = Date.now();
    this.#promptShips = Math.min(
      PROMPT_SHIPS_PER_SECOND,
      this.#promptShips + ((now - this.#promptShipsAt) * PROMPT_SHIPS_PER_SECOND) / 1000,
    );
    this.#promptShipsAt = now;
    if (this.#promptShips < 1) return false;
    this.#promptShips--;
    return true;
  }

  /** Starts a shipping pass; `drain` ships until nothing is left, else a pass stops at a part batch. */
  #kick(drain = false): void {
    if (this.#shipping || this.#closed || Date.now() < this.#retryAt) return;
    this.#shipping = this.#ship(drain).finally(() => {
      this.#shipping = undefined;
    });
  }

  /** The next batch in journal order: from disk while behind, else from memory; then volatile ones. */
  #next(): Batch | undefined {
    if (this.#fromDisk) {
      const read = this.#journal.read(this.#journal.checkpoint, BATCH_SIZE);
      if (read.length) return queuedBatch(read);
      // Caught up with everything journaled: later records are queued in memory again.
      this.#journal.commit(this.#journal.end);
      this.#fromDisk = false;
    }
    if (this.#queue.length) return queuedBatch(this.#queue.slice(0, BATCH_SIZE));
    if (this.#volatile.length) {
      const ops = this.#volatile.slice(0, BATCH_SIZE);
      return { size: ops.length, lines: undefined, ops: () => ops, end: null };
    }
    return undefined;
  }

  async #ship(drain: boolean): Promise<void> {
    for (let batch = this.#next(); batch; batch = this.#next()) {
      try {
        await this.#write(batch);
      } catch (err) {
        this.#backoffMs = Math.min(Math.max(this.#backoffMs * 2, 250), 5_000);
        this.#retryAt = Date.now() + this.#backoffMs;
        this.#log.warn({ err: (err as Error).message, ...this.stats() }, 'recorder: store write failed; will retry');
        return;
      }
      this.#backoffMs = 0;
      this.#stats.written += batch.size;
      if (batch.end === null) {
        this.#volatile.splice(0, batch.size);
      } else {
        this.#journal.commit(batch.end);
        if (!this.#fromDisk) this.#queue.splice(0, batch.size);
      }
      if (Date.now() >= this.#stopAt) return; // shutting down: the rest stays in the journal
      // What arrived during the write waits for the tick unless it fills a batch: fewer, fuller writes.
      if (!drain && !this.#fromDisk && this.#queue.length < BATCH_SIZE) return;
    }
  }

  /**
   * Writes a batch — as its journal lines when the store takes them (text crosses to a store
   * thread for the cost of a copy) — and when the store refuses it for good, writes one by one
   * and sets the refused aside.
   */
  async #write(batch: Batch): Promise<void> {
    const records = this.#store.records;
    try {
      await (batch.lines && records.writeLines ? records.writeLines(batch.lines) : records.write(batch.ops()));
      return;
    } catch (err) {
      if (!(await this.#refusedForGood(err))) throw err;
    }
    for (const op of batch.ops()) {
      try {
        await this.#store.records.write([op]);
      } catch (err) {
        if (!(await this.#refusedForGood(err))) throw err;
        this.#deadLetter(op, err as Error);
      }
    }
  }

  /** A refusal of the record itself, from a store that answers: an outage never dead-letters. */
  async #refusedForGood(err: unknown): Promise<boolean> {
    return this.#store.isPermanent(err) && (await this.#store.ping().catch(() => false));
  }

  #deadLetter(op: RecordOp, err: Error): void {
    const at = new Date();
    const id = op.kind === 'interception_ended' ? op.id : op.doc._id;
    try {
      mkdirSync(this.#deadLetterDir, { recursive: true, mode: 0o700 });
      const file = join(this.#deadLetterDir, `${at.toISOString().slice(0, 10)}.ndjson`);
      appendFileSync(file, `${JSON.stringify({ at, error: err.message, op: JSON.parse(encodeOp(op)) })}\n`, {
        mode: 0o600,
      });
      this.#stats.deadLettered++;
      this.#log.error(
        { kind: op.kind, id, err: err.message, file },
        'recorder: the store refused a record for good; kept in dead-letter, the rest flow on',
      );
    } catch (fileErr) {
      this.#stats.dropped++;
      this.#log.error(
        { kind: op.kind, id, err: err.message, fileErr: (fileErr as Error).message },
        'recorder: record lost',
      );
    }
  }

  /** True while anything journaled or held in memory has not reached the store. */
  #behind(): boolean {
    return this.#queue.length > 0 || this.#volatile.length > 0 || before(this.#journal.checkpoint, this.#journal.end);
  }

  /** Journals everything buffered and ships until the store has it all, or a write fails. */
  async flush(): Promise<void> {
    do {
      this.#flushBuffer();
      this.#retryAt = 0;
      this.#kick(true);
      await this.#shipping;
    } while (this.#behind() && !this.#backoffMs);
  }

  /**
   * Shutdown: journals what is held (interceptions still running are recorded as started),
   * then ships for up to `timeoutMs`; what the store did not take stays in the journal and
   * the next start writes it.
   */
  async close(timeoutMs = 10_000): Promise<void> {
    clearInterval(this.#timer);
    for (const held of this.#held.values()) this.#buffer.push(...held.ops);
    this.#held.clear();
    this.#flushBuffer();
    this.#stopAt = Date.now() + timeoutMs;
    while (Date.now() < this.#stopAt) {
      this.#retryAt = 0;
      this.#kick(true);
      await this.#shipping;
      if (!this.#behind()) break;
      if (this.#backoffMs) await new Promise((r) => setTimeout(r, Math.min(this.#backoffMs, 250)));
    }
    this.#closed = true;
    await this.#shipping;
    this.#journal.close();
    if (this.#volatile.length) this.#log.error({ lost: this.#volatile.length }, 'recorder: records lost at shutdown');
  }
}
