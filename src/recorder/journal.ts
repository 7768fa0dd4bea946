import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { BSON } from 'mongodb';
import type { RecordOp } from './records.ts';

const SEGMENT = /^journal-(\d{12})\.ndjson$/;

/**
 * Append-only overflow for records MongoDB could not take yet: numbered NDJSON segments
 * (Extended JSON, so dates survive) under `data_dir/journal`. New records go to the newest
 * segment; replay reads the older, closed ones in order and deletes each once written.
 */
export class Journal {
  readonly dir: string;
  #next = 1;
  #closed: string[] = [];
  #active: { path: string; stream: WriteStream; count: number } | undefined;

  constructor(dataDir: string) {
    this.dir = join(dataDir, 'journal');
  }

  /** Finds the segments a previous run left behind. */
  async open(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const names = (await readdir(this.dir)).filter((n) => SEGMENT.test(n)).sort();
    for (const name of names) {
      const path = join(this.dir, name);
      if ((await stat(path)).size > 0) this.#closed.push(path);
      else await rm(path, { force: true });
      this.#next = Math.max(this.#next, Number(SEGMENT.exec(name)?.[1]) + 1);
    }
  }

  /** True while any record waits in the journal (closed segments or the active one). */
  get pending(): boolean {
    return this.#closed.length > 0 || (this.#active?.count ?? 0) > 0;
  }

  append(op: RecordOp): void {
    if (!this.#active) {
      const path = join(this.dir, `journal-${String(this.#next++).padStart(12, '0')}.ndjson`);
      const stream = createWriteStream(path, { flags: 'a' });
      // A file error (EMFILE, ENOSPC) must not crash the process: stop using this segment; the next append opens another.
      stream.on('error', () => {
        if (this.#active?.stream === stream) this.#active = undefined;
      });
      this.#active = { path, stream, count: 0 };
    }
    this.#active.stream.write(`${BSON.EJSON.stringify(op, { relaxed: false })}\n`);
    this.#active.count++;
  }

  /** Closes the active segment (its bytes reach the file) so it can be replayed; later appends start a new one. */
  async rotate(): Promise<void> {
    const active = this.#active;
    if (!active) return;
    this.#active = undefined;
    await new Promise<void>((resolve, reject) =>
      active.stream.end((err?: Error | null) => (err ? reject(err) : resolve())),
    );
    if (active.count) this.#closed.push(active.path);
    else await rm(active.path, { force: true });
  }

  /** The oldest closed segment, if any. */
  oldest(): string | undefined {
    return this.#closed[0];
  }

  /** Reads a segment in batches of `size` records, in order. */
  async *read(path: string, size: number): AsyncGenerator<RecordOp[]> {
    const lines = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity });
    let batch: RecordOp[] = [];
    for await (const line of lines) {
      if (!line.trim()) continue;
      try {
        batch.push(BSON.EJSON.parse(line, { relaxed: false }) as RecordOp);
      } catch {
        continue; // a line torn by a crash mid-write; everything before it is intact
      }
      if (batch.length >= size) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length) yield batch;
  }

  async remove(path: string): Promise<void> {
    this.#closed = this.#closed.filter((p) => p !== path);
    await rm(path, { force: true });
  }

  /** Flushes the active segment to disk (shutdown). */
  close(): Promise<void> {
    return this.rotate();
  }
}
