import { closeSync, fstatSync, ftruncateSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../observability/logger.ts';
import { decodeOp, encodeOp } from '../store/codec.ts';
import type { InterceptionRecord, RecordOp } from '../store/records.ts';
import type { Store } from '../store/store.ts';
import { failureCause } from './failure-cause.ts';
import { type RecordingFailure, RecordingHealth } from './health.ts';
import { before, type Entry, Journal, type Position } from './journal.ts';
import type { Recorder } from './recorder-port.ts';
import { Unjournaled } from './unjournaled.ts';

export interface RecorderStats {
  /** Records not yet in the store: held, buffered or queued in memory. */
  pending: number;
  /** Records the journal could not take, waiting in memory (in order) until it can. */
  unjournaled: number;
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
  /** Interceptions any of whose records were lost (counted once each). */
  unrecorded: number;
  /** Journal appends that failed (disk full, too many open files), retries included. */
  journalErrors: number;
}

export interface RecorderOptions {
  /** Holds dead-letter/ (and journal/, unless journalDir says otherwise). */
  dataDir: string;
  /** This process's journal: data_dir/journal, or a directory per worker process. */
  journalDir?: string;
  /** This process's journal, already open: audit sinks read it too and must hold it before shipping starts. */
  journal?: Journal;
}

/** Records per store write. */
const BATCH_SIZE = 1_000;
/** How long an interception's records wait for its end, to be written as one insert. */
const HOLD_MS = 1_000;
/** Journaled records kept in memory for shipping; beyond it they are read back from disk. */
const MAX_MEMORY = 20_000;
/** While the journal cannot be written, how often it is tried again. */
const JOURNAL_RETRY_MS = 500;
/** Records held while the journal could not be written go back into it in writes of about this much text. */
const REJOIN_CHARS = 4 * 1024 * 1024;

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

/** A batch to ship, and where its last record ends in the journal. */
interface Batch {
  size: number;
  lines: string[];
  ops(): RecordOp[];
  end: Position;
}

const TICK_MS = 50;
/** Interception ends that may start a shipping pass of their own, per second; beyond, the tick gathers them. */
const PROMPT_SHIPS_PER_SECOND = 20;

/** The dead-letter file could not be written: the record stays where it was, and is tried again. */
class DeadLetterUnwritable extends Error {}

const queuedBatch = (queued: Queued[]): Batch => ({
  size: queued.length,
  lines: queued.map((q) => q.line),
  ops: () => queued.map((q) => q.op ?? decodeOp(q.line)),
  end: (queued.at(-1) as Queued).end,
});

/**
 * Takes records from the request path without waiting, and loses none (README "Reliability"):
 *  - an interception's records are held together until it ends (or for `holdMs`), so a
 *    short request becomes inserts only — its start and end merged into one document;
 *  - they are appended to the journal when it ends — with those of every interception ending in
 *    the same turn of the event loop, in one write — and the response's last byte waits for that
 *    (durable()), so a crash or kill -9 after a client has its answer loses nothing;
 *  - a shipper writes them to the store in batches and moves the journal's checkpoint on.
 *    While the store is down or behind, records wait in the journal and are read back from
 *    disk in order; a record the store refuses for good goes to data_dir/dead-letter.
 *  - when the journal cannot be written (disk full, I/O error), records wait in memory, in
 *    order and bounded, and go back into it first once it can; `failure()` says why meanwhile.
 */
export class JournalRecorder implements Recorder {
  readonly #store: Store;
  readonly #log: Logger;
  readonly #journal: Journal;
  readonly #deadLetterDir: string;
  readonly #held = new Map<string, Held>();
  #buffer: RecordOp[] = [];
  #queue: Queued[] = [];
  /** Whether the store takes only objects: then the queue keeps them (else the lines do). */
  readonly #keepOps: boolean;
  /** Records the journal could not take: in memory only, appended to it before anything newer. */
  readonly #unjournaled = new Unjournaled();
  #journalRetryAt = 0;
  readonly #health: RecordingHealth;
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
  readonly #stats = { journaled: 0, written: 0, deadLettered: 0, journalErrors: 0 };
  /** Damaged journal lines already set aside (by where they end). */
  readonly #damagedSeen = new Set<string>();

  constructor(store: Store, log: Logger, options: RecorderOptions) {
    this.#store = store;
    this.#log = log;
    this.#health = new RecordingHealth(log);
    this.#journal = options.journal ?? new Journal(options.journalDir ?? join(options.dataDir, 'journal'));
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
          const { ended_at, status, cost_usd, totals, metadata, routed } = op;
          const doc = { ...start.doc, ended_at, status, cost_usd, totals, ...routed };
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
        const parent = op.doc.interception_id;
        const held = parent === null ? undefined : this.#held.get(parent);
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
    const unjournaled = this.#unjournaled;
    return {
      pending: held + this.#buffer.length + this.#queue.length + unjournaled.size,
      unjournaled: unjournaled.size,
      // Read when asked (it lists the journal's files): a scrape reads every other figure too.
      get backlogBytes() {
        return journal.backlogBytes;
      },
      fromDisk: this.#fromDisk,
      ...this.#stats,
      dropped: unjournaled.dropped,
      unrecorded: unjournaled.unrecorded,
    };
  }

  /**
   * Why records cannot be kept right now, or undefined while they can: the journal cannot be
   * appended (new requests are then refused or served unrecorded, `recording.on_failure`), or
   * the store has refused writes for a passing cause for longer than a short grace.
   */
  failure(): RecordingFailure | undefined {
    return this.#health.failure();
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
    this.#health.tick();
    this.#kick();
  }

  /**
   * Journals what is buffered, after anything held while the journal could not be written. A
   * file error never crashes: the records wait in memory, and while they do, new ones join them
   * (order kept) until the next try, at most every JOURNAL_RETRY_MS — or now, when `force`d.
   */
  #flushBuffer(force = false): void {
    if (!this.#buffer.length && !this.#unjournaled.size) return;
    const ops = this.#buffer;
    this.#buffer = [];
    const failing = this.#health.journal !== undefined;
    if (failing && !force && Date.now() < this.#journalRetryAt) {
      this.#hold(ops);
      return;
    }
    let entries: Entry[];
    let rejoined = 0;
    try {
      rejoined = this.#rejoin();
      entries = this.#append(() => this.#journal.append(ops));
      this.#stats.journaled += ops.length;
    } catch (err) {
      this.#stats.journalErrors++;
      this.#journalRetryAt = Date.now() + JOURNAL_RETRY_MS;
      this.#health.journalFailed(failureCause(err), err, this.#unjournaled.size + ops.length);
      this.#hold(ops);
      return;
    }
    if (failing) this.#health.journalRecovered(rejoined);
    if (this.#fromDisk) return; // the shipper reads them back from the journal
    for (const { line, op, end } of entries) this.#queue.push({ line, op: this.#keepOps ? op : undefined, end });
    if (this.#queue.length > MAX_MEMORY) {
      // The store is behind: stop holding journaled records in memory; ship from disk.
      this.#queue = [];
      this.#fromDisk = true;
    }
  }

  #hold(ops: RecordOp[]): void {
    if (ops.length) this.#unjournaled.hold(ops, ops.map(encodeOp));
  }

  /**
   * Appends the records held while the journal could not be written, oldest first; from the
   * first one in, the shipper reads the journal again (they come after everything in it).
   * Throws when the journal fails again; what it took by then is no longer held.
   */
  #rejoin(): number {
    let rejoined = 0;
    while (this.#unjournaled.size) {
      const lines = this.#unjournaled.peek(REJOIN_CHARS);
      this.#append(() => this.#journal.appendLines(lines));
      this.#unjournaled.release(lines.length);
      this.#stats.journaled += lines.length;
      rejoined += lines.length;
      this.#queue = [];
      this.#fromDisk = true;
    }
    return rejoined;
  }

  /** A journal append; when it fails, the space of records the store has all taken is freed and it is tried once more. */
  #append<T>(write: () => T): T {
    try {
      return write();
    } catch (err) {
      if (!this.#journal.reclaim()) throw err;
      return write();
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

  /** The next batch in journal order: from disk while behind, else from memory. */
  #next(): Batch | undefined {
    if (this.#fromDisk) {
      const read = this.#journal.read(this.#journal.checkpoint, BATCH_SIZE, (line, end) => this.#damaged(line, end));
      if (read.length) return queuedBatch(read);
      // Caught up with everything journaled: later records are queued in memory again.
      this.#journal.commit(this.#journal.end);
      this.#fromDisk = false;
    }
    if (this.#queue.length) return queuedBatch(this.#queue.slice(0, BATCH_SIZE));
    return undefined;
  }

  async #ship(drain: boolean): Promise<void> {
    for (let batch = this.#next(); batch; batch = this.#next()) {
      try {
        await this.#write(batch);
      } catch (err) {
        this.#backoffMs = Math.min(Math.max(this.#backoffMs * 2, 250), 5_000);
        this.#retryAt = Date.now() + this.#backoffMs;
        this.#health.storeFailed(err instanceof DeadLetterUnwritable ? err.message : failureCause(err), err);
        return;
      }
      this.#backoffMs = 0;
      this.#health.storeRecovered();
      this.#stats.written += batch.size;
      this.#journal.commit(batch.end);
      if (!this.#fromDisk) this.#queue.splice(0, batch.size);
      // Everything journaled is in the store: a journal that failed for want of space can give some back now.
      if (this.#health.journal && !this.#behind()) this.#journalRetryAt = 0;
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
  async #write(batch: Pick<Batch, 'lines' | 'ops'>): Promise<void> {
    const records = this.#store.records;
    try {
      await (records.writeLines ? records.writeLines(batch.lines) : records.write(batch.ops()));
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

  /** Sets a record aside in data_dir/dead-letter; throws DeadLetterUnwritable when the file cannot take it. */
  #deadLetter(op: RecordOp, err: Error): void {
    const id = op.kind === 'interception_ended' ? op.id : op.doc._id;
    let file: string;
    try {
      file = this.#setAside({ error: err.message, op: JSON.parse(encodeOp(op)) });
    } catch (fileErr) {
      throw new DeadLetterUnwritable(`the dead-letter file cannot be written: ${failureCause(fileErr)}`, {
        cause: fileErr,
      });
    }
    this.#stats.deadLettered++;
    this.#log.error(
      { kind: op.kind, id, err: err.message, file },
      'recorder: the store refused a record for good; kept in dead-letter, the rest flow on',
    );
  }

  /**
   * A journal line that is no record: the file was damaged (a bad disk, an edit). It cannot be
   * written to the store, so it is kept as it is in dead-letter, counted and logged — once, though
   * a retried batch reads it again.
   */
  #damaged(line: string, end: Position): void {
    const where = `${end.segment}:${end.offset}`;
    if (this.#damagedSeen.has(where)) return;
    this.#damagedSeen.add(where);
    this.#stats.deadLettered++;
    let file: string | null = null;
    try {
      file = this.#setAside({ error: 'a damaged journal line: not a record', line });
    } catch {}
    this.#log.error(
      { journal_position: where, bytes: Buffer.byteLength(line), file },
      file
        ? 'recorder: a journal line is damaged and is no record; kept as it is in dead-letter'
        : 'recorder: a journal line is damaged and is no record; the dead-letter file cannot take it either',
    );
  }

  /** Appends one entry to today's dead-letter file (data_dir/dead-letter/<date>.ndjson); returns it. Throws when it cannot. */
  #setAside(entry: Record<string, unknown>): string {
    const at = new Date();
    const file = join(this.#deadLetterDir, `${at.toISOString().slice(0, 10)}.ndjson`);
    mkdirSync(this.#deadLetterDir, { recursive: true, mode: 0o700 });
    appendWhole(file, `${JSON.stringify({ at, ...entry })}\n`);
    return file;
  }

  /**
   * At shutdown, records the journal still cannot take go straight to the store (after all it
   * holds, so in order), until the deadline: a full disk under data_dir with a store elsewhere
   * loses nothing held.
   */
  async #shipUnjournaled(): Promise<void> {
    while (this.#unjournaled.size && Date.now() < this.#stopAt) {
      const lines = this.#unjournaled.peek(REJOIN_CHARS, BATCH_SIZE);
      try {
        await this.#write({ lines, ops: () => lines.map(decodeOp) });
      } catch {
        return; // the store cannot take them either: they are reported lost
      }
      this.#unjournaled.release(lines.length);
      this.#stats.written += lines.length;
    }
  }

  /** True while anything journaled has not reached the store. */
  #behind(): boolean {
    return this.#queue.length > 0 || before(this.#journal.checkpoint, this.#journal.end);
  }

  /**
   * Journals everything buffered (trying a failing journal again now) and ships until the store
   * has all the journal holds, or a write fails.
   */
  async flush(): Promise<void> {
    do {
      this.#flushBuffer(true);
      this.#retryAt = 0;
      this.#kick(true);
      await this.#shipping;
    } while (this.#behind() && !this.#backoffMs);
  }

  /**
   * Shutdown: journals what is held (interceptions still running are recorded as started),
   * then ships for up to `timeoutMs`; what the store did not take stays in the journal and
   * the next start writes it. Only records the journal still cannot take are lost (and logged).
   */
  async close(timeoutMs = 10_000): Promise<void> {
    clearInterval(this.#timer);
    for (const held of this.#held.values()) this.#buffer.push(...held.ops);
    this.#held.clear();
    this.#flushBuffer(true);
    this.#stopAt = Date.now() + timeoutMs;
    while (Date.now() < this.#stopAt) {
      this.#retryAt = 0;
      this.#kick(true);
      await this.#shipping;
      if (!this.#behind()) {
        this.#flushBuffer(true); // records held in memory: a journal full of shipped records has room now
        if (!this.#behind()) break;
        continue;
      }
      if (this.#backoffMs) await new Promise((r) => setTimeout(r, Math.min(this.#backoffMs, 250)));
    }
    this.#closed = true;
    await this.#shipping;
    if (!this.#behind()) await this.#shipUnjournaled();
    this.#journal.close();
    if (this.#unjournaled.size) {
      const cause = this.#health.journal;
      const unrecorded = this.#unjournaled.unrecorded;
      const lost = this.#unjournaled.loseAll();
      this.#log.error(
        { lost, interceptions: this.#unjournaled.unrecorded - unrecorded, cause },
        'recorder: records lost at shutdown: the journal could not take them',
      );
    }
  }
}

/**
 * Appends text to a file whole or not at all: what a failed write left (a full disk takes part of
 * it) is cut off again, so the next entry does not start mid-line.
 */
function appendWhole(file: string, text: string): void {
  const fd = openSync(file, 'a', 0o600);
  try {
    const size = fstatSync(fd).size;
    const buffer = Buffer.from(text);
    try {
      for (let written = 0; written < buffer.length; ) {
        written += writeSync(fd, buffer, written, buffer.length - written);
      }
    } catch (err) {
      try {
        ftruncateSync(fd, size);
      } catch {}
      throw err;
    }
  } finally {
    closeSync(fd);
  }
}
