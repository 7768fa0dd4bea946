import {
  closeSync,
  fdatasync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { decodeOp, encodeOp } from '../store/codec.ts';
import type { RecordOp } from '../store/records.ts';

const SEGMENT = /^journal-(\d{12})\.ndjson$/;
const segmentName = (n: number) => `journal-${String(n).padStart(12, '0')}.ndjson`;

/** A place in the journal: just after some record. Ordered by segment, then byte offset. */
export interface Position {
  segment: number;
  offset: number;
}

/** A record in the journal: itself, its line (codec.ts), and where it ends. */
export interface Entry {
  op: RecordOp;
  line: string;
  end: Position;
}

export const before = (a: Position, b: Position) =>
  a.segment < b.segment || (a.segment === b.segment && a.offset < b.offset);

/** A new segment starts once the current one is this large… */
const SEGMENT_BYTES = 32 * 1024 * 1024;
/** …or once the store has taken this much of it. */
const SHIPPED_SEGMENT_BYTES = 1024 * 1024;
/** fdatasync at most this often: what power loss can cost. */
const SYNC_INTERVAL_MS = 100;
/** The checkpoint file is rewritten at most this often (a stale one only replays records, which are idempotent). */
const CHECKPOINT_INTERVAL_MS = 1_000;

/**
 * The recorder's write-ahead log in one directory (`data_dir/journal`, or one per worker
 * process): numbered NDJSON segments that every record is appended to (synchronously, so it
 * is on disk — in the OS's hands — before the request that made it is answered), and a
 * checkpoint saying how far the store has taken them. A restart replays from the
 * checkpoint; segments wholly behind it (and behind every hold: audit sinks) are deleted.
 * One process appends to a directory.
 */
export class Journal {
  readonly dir: string;
  readonly #checkpointFile: string;
  #fd: number | undefined;
  #segment = 0;
  #offset = 0;
  #dirty = false;
  readonly #syncTimer: NodeJS.Timeout;
  #checkpoint: Position;
  /** The checkpoint last written to its file. */
  #saved: Position;
  #savedAt = 0;
  /** Other readers of the journal (audit sinks): each says the oldest place it still needs. */
  readonly #holds = new Map<() => Position, (segments: number[]) => void>();
  #appended = 0;

  constructor(dir: string) {
    this.dir = dir;
    this.#checkpointFile = join(this.dir, 'checkpoint.json');
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const segments = this.segments();
    this.#checkpoint = this.#readCheckpoint() ?? { segment: segments[0] ?? 1, offset: 0 };
    this.#saved = this.#checkpoint;
    // Never append to a segment a previous run left (its last line may be torn): start a new one,
    // past the checkpoint too (it may name a segment never created, every one before it deleted).
    this.#segment = Math.max(0, this.#checkpoint.segment, ...segments) + 1;
    this.#syncTimer = setInterval(() => {
      this.#sync();
      if (Date.now() - this.#savedAt >= CHECKPOINT_INTERVAL_MS) this.#save();
    }, SYNC_INTERVAL_MS);
    this.#syncTimer.unref();
  }

  /** Segment numbers on disk, oldest first. */
  segments(): number[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return []; // the directory is gone (a file error): nothing to read back
    }
    return names
      .map((name) => SEGMENT.exec(name)?.[1])
      .filter((n): n is string => n !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
  }

  /** Where the next record will go (i.e. just after the last one written). */
  get end(): Position {
    return { segment: this.#segment, offset: this.#offset };
  }

  get checkpoint(): Position {
    return this.#checkpoint;
  }

  /** Records appended since this journal was opened. */
  get appended(): number {
    return this.#appended;
  }

  /**
   * Keeps segments from `oldest()` on until released, even once the store has them: another
   * reader (an audit sink) still needs them. Register before the store can move on. A full disk
   * is the one thing that takes them anyway (`reclaim`): `lost` hears which.
   */
  hold(oldest: () => Position, lost: (segments: number[]) => void = () => {}): () => void {
    this.#holds.set(oldest, lost);
    return () => this.#holds.delete(oldest);
  }

  /** Deletes the segments wholly behind the saved checkpoint and every hold. */
  prune(): void {
    for (const n of this.segments()) {
      if (n < this.#saved.segment) this.#remove(n);
    }
  }

  /** True while a reader other than the store still needs the segment. */
  #held(segment: number): boolean {
    for (const oldest of this.#holds.keys()) if (oldest().segment <= segment) return true;
    return false;
  }

  /** Bytes written but not yet taken by the store. */
  get backlogBytes(): number {
    let bytes = 0;
    for (const n of this.segments()) {
      if (n < this.#checkpoint.segment) continue;
      const size = n === this.#segment ? this.#offset : this.#size(n);
      bytes += size - (n === this.#checkpoint.segment ? this.#checkpoint.offset : 0);
    }
    return Math.max(0, bytes);
  }

  #path(n: number): string {
    return join(this.dir, segmentName(n));
  }

  /** A segment's file. */
  segmentPath(n: number): string {
    return this.#path(n);
  }

  /** A segment's size in bytes (0 once deleted). */
  segmentSize(n: number): number {
    return this.#size(n);
  }

  #size(n: number): number {
    try {
      return statSync(this.#path(n)).size;
    } catch {
      return 0;
    }
  }

  /**
   * Appends records in one write; returns each as an entry (its line, its end position). Throws
   * on a file error (disk full, too many open files): the caller decides, the process never crashes.
   */
  append(ops: readonly RecordOp[]): Entry[] {
    const lines = ops.map(encodeOp);
    const ends = this.appendLines(lines);
    return ends.map((end, i) => ({ op: ops[i] as RecordOp, line: lines[i] as string, end }));
  }

  /**
   * Appends records already encoded (codec.ts), in one write; returns where each ends. All or
   * nothing: a write the disk took only part of is cut off again, so a failed append leaves no
   * torn line for the next one to be glued to.
   */
  appendLines(lines: readonly string[]): Position[] {
    if (!lines.length) return [];
    if (this.#fd === undefined || this.#offset >= SEGMENT_BYTES) this.#rotate();
    const fd = this.#fd as number;
    const buffer = Buffer.from(`${lines.join('\n')}\n`);
    try {
      for (let written = 0; written < buffer.length; ) {
        written += writeSync(fd, buffer, written, buffer.length - written);
      }
    } catch (err) {
      this.#cutBack(fd);
      throw err;
    }
    this.#dirty = true;
    this.#appended += lines.length;
    const ends: Position[] = [];
    let offset = this.#offset;
    for (const line of lines) {
      offset += Buffer.byteLength(line) + 1;
      ends.push({ segment: this.#segment, offset });
    }
    this.#offset += buffer.length;
    return ends;
  }

  /** Removes the part of a failed write that reached the file; if even that fails, the next append starts a new segment. */
  #cutBack(fd: number): void {
    try {
      ftruncateSync(fd, this.#offset);
    } catch {
      // A reader skips the torn last line; whole lines before it are records the caller still
      // holds and appends again later: read twice, written once (records are idempotent).
      this.#leave();
    }
  }

  #rotate(): void {
    if (this.#fd !== undefined) this.#leave();
    this.#fd = openSync(join(this.dir, segmentName(this.#segment)), 'a', 0o600);
    this.#offset = 0;
  }

  /** Closes the current segment; the next append opens the one after it. */
  #leave(): void {
    const caughtUp = !before(this.#checkpoint, this.end);
    const fd = this.#fd;
    this.#fd = undefined; // never written again, even if closing it fails
    this.#segment++;
    this.#offset = 0;
    if (caughtUp) this.#checkpoint = this.end; // nothing was pending: the store has everything before the new segment
    if (fd === undefined) return;
    try {
      closeSync(fd);
    } catch {}
  }

  /**
   * Frees the disk space of records the store has all taken: when nothing is pending, the
   * current segment is closed and every segment deleted. The last resort of an append that met a
   * full disk (commit leaves a segment only past SHIPPED_SEGMENT_BYTES). Returns whether
   * anything was deleted.
   */
  reclaim(): boolean {
    if (before(this.#checkpoint, this.end)) return false;
    if (this.#fd !== undefined) this.#leave();
    const shipped = this.segments().filter((n) => n < this.#segment);
    // The audit trail in the store comes first: sinks that still need these lose them, and are told.
    for (const [oldest, lost] of this.#holds) {
      const theirs = shipped.filter((n) => n >= oldest().segment);
      if (theirs.length) lost(theirs);
    }
    for (const n of shipped) this.#remove(n, true);
    this.#save();
    return shipped.length > 0;
  }

  #remove(segment: number, evenIfHeld = false): void {
    if (!evenIfHeld && this.#held(segment)) return;
    try {
      rmSync(this.#path(segment), { force: true });
    } catch {
      // Left for the next checkpoint save to delete.
    }
  }

  #sync(): void {
    if (!this.#dirty || this.#fd === undefined) return;
    this.#dirty = false;
    fdatasync(this.#fd, () => {});
  }

  /**
   * Records from `from` up to `limit` of them, with the position after each; [] at the end. A
   * whole line that is no record (a write is all or nothing, and a torn last line is never read
   * as one: this is damage to the file) is skipped and handed to `damaged`, with where it ends.
   */
  read(from: Position, limit: number, damaged?: (line: string, end: Position) => void): Entry[] {
    const out: Entry[] = [];
    let { segment, offset } = from;
    while (out.length < limit) {
      let fd: number;
      try {
        fd = openSync(this.#path(segment), 'r');
      } catch {
        if (segment >= this.#segment) break; // the live segment is not created yet
        segment++;
        offset = 0;
        continue;
      }
      try {
        let size = 1024 * 1024;
        for (;;) {
          const chunk = Buffer.allocUnsafe(size);
          const got = readSync(fd, chunk, 0, size, offset);
          let start = 0;
          for (
            let nl = chunk.indexOf(10, 0);
            nl !== -1 && nl < got && out.length < limit;
            nl = chunk.indexOf(10, start)
          ) {
            const line = chunk.toString('utf8', start, nl);
            const op = safeDecode(line);
            offset += nl + 1 - start;
            start = nl + 1;
            if (op) out.push({ op, line, end: { segment, offset } });
            else damaged?.(line, { segment, offset });
          }
          if (out.length >= limit) return out;
          if (got < size) break; // end of this segment (a torn last line, if any, is skipped)
          if (start === 0) size *= 4; // one line longer than the chunk
        }
      } finally {
        closeSync(fd);
      }
      if (segment >= this.#segment) break; // the live segment: nothing more yet
      segment++;
      offset = 0;
    }
    return out;
  }

  /**
   * The store has everything before `position`. The file is rewritten at most every
   * CHECKPOINT_INTERVAL_MS (and at close), so a busy shipper does not pay a file write per
   * batch; segments wholly behind the checkpoint are deleted as it moves past them (safe before
   * the file is rewritten: a replay skips a missing segment). Once the store has taken
   * SHIPPED_SEGMENT_BYTES of the segment being written, later records go to a new one, so the
   * space comes back soon: a store that keeps up never lets shipped records fill a small disk.
   */
  commit(position: Position): void {
    if (!before(this.#checkpoint, position)) return;
    const from = this.#checkpoint.segment;
    this.#checkpoint = position;
    if (this.#fd !== undefined && position.segment === this.#segment && position.offset >= SHIPPED_SEGMENT_BYTES) {
      this.#leave();
    }
    for (let n = from; n < this.#checkpoint.segment; n++) this.#remove(n);
    if (Date.now() - this.#savedAt >= CHECKPOINT_INTERVAL_MS) this.#save();
  }

  /** Writes the checkpoint if it moved since it was last written. */
  #save(): void {
    const position = this.#checkpoint;
    if (!before(this.#saved, position)) return;
    this.#savedAt = Date.now();
    const movedSegment = position.segment > this.#saved.segment;
    try {
      writeFileSync(this.#checkpointFile, JSON.stringify(position), { mode: 0o600 });
      this.#saved = position;
      if (movedSegment) this.prune();
    } catch {
      // A checkpoint that cannot be saved only means a restart replays more (records are idempotent).
    }
  }

  #readCheckpoint(): Position | undefined {
    try {
      const value = JSON.parse(readFileSync(this.#checkpointFile, 'utf8')) as Position;
      return Number.isInteger(value.segment) && Number.isInteger(value.offset) ? value : undefined;
    } catch {
      return undefined; // none, or torn: replay every segment (records are idempotent)
    }
  }

  close(): void {
    clearInterval(this.#syncTimer);
    this.#save();
    if (this.#fd !== undefined) {
      closeSync(this.#fd);
      this.#fd = undefined;
    }
  }
}

function safeDecode(line: string): RecordOp | undefined {
  try {
    return decodeOp(line);
  } catch {
    return undefined;
  }
}
