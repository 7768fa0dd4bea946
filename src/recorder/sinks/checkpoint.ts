import { readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { Journal, Position } from '../journal.ts';

const PREFIX = 'checkpoint-sink-';
const SUFFIX = '.json';

/** `checkpoint-sink-<name>.json` in the journal's directory: how far that sink has delivered. */
export const checkpointFile = (dir: string, name: string) => join(dir, `${PREFIX}${name}${SUFFIX}`);

/** What a sink's checkpoint file says: a place, none (a new sink), or unreadable (torn, or not ours). */
export function readCheckpoint(file: string): Position | 'none' | 'unreadable' {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'none' : 'unreadable';
  }
  try {
    const value = JSON.parse(text) as Position;
    if (Number.isInteger(value.segment) && Number.isInteger(value.offset) && value.offset >= 0) {
      return { segment: value.segment, offset: value.offset };
    }
  } catch {}
  return 'unreadable';
}

/** Writes a checkpoint whole or not at all: a new file renamed over the old one. */
export function writeCheckpoint(file: string, position: Position): void {
  const next = `${file}.next`;
  writeFileSync(next, JSON.stringify(position), { mode: 0o600 });
  renameSync(next, file);
}

/** Removes the checkpoints of sinks no longer configured (so they hold no segment); returns their names. */
export function removeStaleCheckpoints(dir: string, names: readonly string[]): string[] {
  let files: string[];
  try {
    files = readdirSync(dir);
  } catch {
    return [];
  }
  const stale: string[] = [];
  for (const file of files) {
    if (!file.startsWith(PREFIX)) continue;
    const name = file.slice(PREFIX.length).replace(/\.json(\.next)?$/, '');
    if (names.includes(name)) continue;
    rmSync(join(dir, file), { force: true });
    if (file.endsWith(SUFFIX)) stale.push(name);
  }
  return stale;
}

/** Bytes of journal from `from` to the journal's end. */
export function bytesBehind(journal: Journal, from: Position): number {
  const end = journal.end;
  if (from.segment === end.segment) return Math.max(0, end.offset - from.offset); // no listing needed
  let bytes = 0;
  for (const n of journal.segments()) {
    if (n < from.segment || n > end.segment) continue;
    const size = n === end.segment ? end.offset : journal.segmentSize(n);
    bytes += Math.max(0, size - (n === from.segment ? from.offset : 0));
  }
  return bytes;
}

/** Records (lines) between two places of the journal, counted without blocking: read in chunks off the loop. */
export async function countRecords(journal: Journal, from: Position, to: Position): Promise<number> {
  let count = 0;
  const chunk = Buffer.allocUnsafe(1024 * 1024);
  for (const n of journal.segments()) {
    if (n < from.segment || n > to.segment) continue;
    let file: Awaited<ReturnType<typeof open>>;
    try {
      file = await open(journal.segmentPath(n), 'r');
    } catch {
      continue; // deleted meanwhile
    }
    try {
      let position = n === from.segment ? from.offset : 0;
      const stop = n === to.segment ? to.offset : Number.POSITIVE_INFINITY;
      while (position < stop) {
        const { bytesRead } = await file.read(chunk, 0, Math.min(chunk.length, stop - position), position);
        if (!bytesRead) break;
        for (let i = chunk.indexOf(10); i !== -1 && i < bytesRead; i = chunk.indexOf(10, i + 1)) count++;
        position += bytesRead;
      }
    } finally {
      await file.close();
    }
  }
  return count;
}
