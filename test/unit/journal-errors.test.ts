import { existsSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { Journal } from '../../src/recorder/journal.ts';
import type { RecordOp } from '../../src/recorder/records.ts';
import { tempDirs } from '../helpers/temp.ts';

const tempDir = tempDirs('aibridge-journal-');
const op = (id: string) => ({ kind: 'interception_ended', id, ended_at: new Date(), status: 'completed' }) as RecordOp;

describe('journal file errors', () => {
  it('a segment that cannot be opened does not crash the process; the next append opens another', async () => {
    const journal = new Journal(tempDir());
    await journal.open();
    await rm(journal.dir, { recursive: true }); // every open now fails (ENOENT), like EMFILE would
    journal.append(op('a'));
    await new Promise((r) => setTimeout(r, 50)); // the stream's 'error' fires here; unhandled, it would crash
    await mkdir(journal.dir);
    journal.append(op('b'));
    await journal.rotate();
    const segments = await readdir(journal.dir);
    expect(segments).toHaveLength(1);
    expect(existsSync(journal.oldest() as string)).toBe(true);
  });
});
