import type { RecordOp } from '../store/records.ts';

/** At most this many records wait in memory for a journal that cannot be written… */
const MAX_RECORDS = 20_000;
/** …and at most this much of their text (UTF-16 code units of their journal lines). */
const MAX_CHARS = 64 * 1024 * 1024;

/** An annotation made outside any interception stands alone. */
const interceptionOf = (op: RecordOp): string =>
  op.kind === 'interception'
    ? op.doc._id
    : op.kind === 'interception_ended'
      ? op.id
      : (op.doc.interception_id ?? op.doc._id);

/** The last record of an interception: its end, or its start with the end merged in. */
const isLast = (op: RecordOp): boolean =>
  op.kind === 'interception_ended' || (op.kind === 'interception' && op.doc.ended_at !== null);

/**
 * Records the journal could not take (disk full, I/O error), as their journal lines, oldest
 * first, until it can take them again (README "Reliability"). Bounded: once full, newer records
 * are not kept — each counted in `dropped`, and its interception in `unrecorded`, once however
 * many of its records were lost.
 */
export class Unjournaled {
  #lines: string[] = [];
  #interceptions: string[] = [];
  #chars = 0;
  dropped = 0;
  unrecorded = 0;
  /** Interceptions that lost a record and have not ended: their later losses are not counted again. */
  readonly #counted = new Set<string>();

  get size(): number {
    return this.#lines.length;
  }

  /**
   * Holds a batch in order. An interception's records in it are kept or lost together: when
   * they do not fit, none of them is kept (a smaller interception after them may still fit).
   */
  hold(ops: readonly RecordOp[], lines: readonly string[]): void {
    for (let start = 0; start < ops.length; ) {
      const id = interceptionOf(ops[start] as RecordOp);
      let end = start;
      let chars = 0;
      let last = false;
      for (; end < ops.length && interceptionOf(ops[end] as RecordOp) === id; end++) {
        chars += (lines[end] as string).length;
        last ||= isLast(ops[end] as RecordOp);
      }
      if (this.#lines.length + (end - start) <= MAX_RECORDS && this.#chars + chars <= MAX_CHARS) {
        this.#lines.push(...lines.slice(start, end));
        for (let i = start; i < end; i++) this.#interceptions.push(id);
        this.#chars += chars;
      } else {
        for (let i = start; i < end; i++) this.#lose(id);
      }
      if (last) this.#counted.delete(id); // it has ended: no later record of it can be lost
      start = end;
    }
  }

  /** The oldest lines: up to `max` of them and about `chars` of text (at least one line). */
  peek(chars: number, max = Number.POSITIVE_INFINITY): string[] {
    let n = 0;
    for (let total = 0; n < this.#lines.length && n < max && (n === 0 || total < chars); n++) {
      total += (this.#lines[n] as string).length;
    }
    return this.#lines.slice(0, n);
  }

  /** Forgets the oldest `n` lines: the journal has them now. */
  release(n: number): void {
    for (const line of this.#lines.splice(0, n)) this.#chars -= line.length;
    this.#interceptions.splice(0, n);
  }

  /** Gives up on everything held (a shutdown with the journal still failing); returns how many records. */
  loseAll(): number {
    const n = this.#lines.length;
    for (const id of this.#interceptions) this.#lose(id);
    this.#lines = [];
    this.#interceptions = [];
    this.#chars = 0;
    this.#counted.clear();
    return n;
  }

  #lose(id: string): void {
    this.dropped++;
    if (this.#counted.has(id)) return;
    this.unrecorded++;
    if (this.#counted.size >= MAX_RECORDS) this.#counted.clear(); // bounded, even if ends never come
    this.#counted.add(id);
  }
}
