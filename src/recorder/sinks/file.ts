import { constants } from 'node:fs';
import { type FileHandle, mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { OutgoingEvent, SinkTransport } from './transport.ts';

export interface FileSinkOptions {
  path: string;
  /** Rotate before a write would take the file past this size. */
  maxBytes: number;
  /** Rotated files kept: `path.1` (newest) … `path.<keep>`. */
  keep: number;
}

/**
 * NDJSON appended to a file, one event per line, rotated by size (`audit.ndjson.1` is the newest
 * rotated file). A batch counts as delivered once written and flushed to disk (fdatasync). An
 * event is never split across files; one larger than `maxBytes` gets a file of its own.
 */
export class FileSink implements SinkTransport {
  readonly target: string;
  readonly #options: FileSinkOptions;
  #file: FileHandle | undefined;
  #size = 0;

  constructor(options: FileSinkOptions) {
    this.#options = options;
    this.target = `file ${options.path}`;
  }

  async deliver(events: readonly OutgoingEvent[]): Promise<void> {
    try {
      let chunk: string[] = [];
      let chunkBytes = 0;
      for (const event of events) {
        const line = `${event.json}\n`;
        const bytes = Buffer.byteLength(line);
        const file = await this.#open();
        if (this.#size + chunkBytes + bytes > this.#options.maxBytes && this.#size + chunkBytes > 0) {
          await this.#write(file, chunk);
          chunk = [];
          chunkBytes = 0;
          await this.#rotate();
        }
        chunk.push(line);
        chunkBytes += bytes;
      }
      await this.#write(await this.#open(), chunk);
      await this.#file?.datasync();
    } catch (err) {
      // A write may have stopped mid-line (disk full): the next open starts on a fresh line.
      await this.#close();
      throw err;
    }
  }

  async #write(file: FileHandle, lines: string[]): Promise<void> {
    if (!lines.length) return;
    const buffer = Buffer.from(lines.join(''));
    for (let written = 0; written < buffer.length; ) {
      const { bytesWritten } = await file.write(buffer, written, buffer.length - written);
      written += bytesWritten;
      this.#size += bytesWritten;
    }
  }

  async #open(): Promise<FileHandle> {
    if (this.#file) return this.#file;
    await mkdir(dirname(this.#options.path), { recursive: true, mode: 0o700 });
    const file = await open(this.#options.path, constants.O_RDWR | constants.O_APPEND | constants.O_CREAT, 0o600);
    try {
      this.#size = (await file.stat()).size;
      if (this.#size > 0) {
        // A line left torn (a crash mid-write) would swallow the next event: end it first.
        const last = Buffer.alloc(1);
        await file.read(last, 0, 1, this.#size - 1);
        if (last[0] !== 10) await this.#write(file, ['\n']);
      }
    } catch (err) {
      await file.close();
      throw err;
    }
    this.#file = file;
    return file;
  }

  /** `path` → `path.1`, `path.1` → `path.2` …; the oldest beyond `keep` is deleted. */
  async #rotate(): Promise<void> {
    await this.#file?.datasync();
    await this.#close();
    const { path, keep } = this.#options;
    if (keep === 0) return rm(path, { force: true });
    await rm(`${path}.${keep}`, { force: true });
    for (let i = keep - 1; i >= 1; i--) await rename(`${path}.${i}`, `${path}.${i + 1}`).catch(ignoreMissing);
    await rename(path, `${path}.1`);
  }

  async #close(): Promise<void> {
    const file = this.#file;
    this.#file = undefined;
    this.#size = 0;
    await file?.close().catch(() => {});
  }

  async close(): Promise<boolean> {
    await this.#close();
    return true;
  }
}

function ignoreMissing(err: NodeJS.ErrnoException): void {
  if (err.code !== 'ENOENT') throw err;
}
