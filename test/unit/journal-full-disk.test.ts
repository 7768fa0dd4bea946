/**
 * The journal on a real full file system (a small one mounted for the test; root only): a
 * failed append leaves no torn line behind, and records the store has all taken give their
 * space back — and a restart after that still finds what is appended next.
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Journal } from '../../src/recorder/journal.ts';
import type { RecordOp } from '../../src/store/records.ts';
import { prompt } from '../helpers/record-store.ts';
import { cannotMountSmallFs, fill, mountSmallFs, type SmallFs } from '../helpers/small-fs.ts';
import { tempDirs } from '../helpers/temp.ts';

const skip = cannotMountSmallFs();
const mounted: SmallFs[] = [];
afterAll(() => {
  for (const fs of mounted) fs.unmount();
});

const prompts = (n: number, bytes: number): RecordOp[] =>
  Array.from({ length: n }, () => prompt(randomUUID(), 'x'.repeat(bytes)));
const ids = (entries: Array<{ op: RecordOp }>) => entries.map(({ op }) => (op as { doc: { _id: string } }).doc._id);
const idsOf = (ops: RecordOp[]) => ops.map((op) => (op as { doc: { _id: string } }).doc._id);

const tempDir = tempDirs('aibridge-journal-');

describe('journal restarts', () => {
  it('after every segment was shipped and deleted, a new run still reads back what it appends', () => {
    const dir = tempDir();
    const first = new Journal(dir);
    first.append(prompts(2, 100));
    first.commit(first.end);
    expect(first.reclaim()).toBe(true); // nothing left on disk; the checkpoint is past every segment
    first.close();

    const second = new Journal(dir);
    const later = prompts(2, 100);
    second.append(later);
    expect(ids(second.read(second.checkpoint, 10))).toEqual(idsOf(later));
    second.close();
    const third = new Journal(dir); // and a run after it replays them, had the store not taken them
    expect(ids(third.read(third.checkpoint, 10))).toEqual(idsOf(later));
    third.close();
  });
});

describe.skipIf(skip)(`journal on a full disk${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it.each(['tmpfs', 'ext4'] as const)(
    'on %s: a failed append is all or nothing; the next record starts a line of its own',
    (kind) => {
      const fs = mountSmallFs(4, kind);
      mounted.push(fs);
      const journal = new Journal(join(fs.dir, 'journal'));
      const first = prompts(3, 1000);
      journal.append(first);
      const filler = join(fs.dir, 'filler');
      fill(fs, filler, 100 * 1024);
      const end = journal.end;
      expect(() => journal.append(prompts(4, 60_000))).toThrow(expect.objectContaining({ code: 'ENOSPC' }));
      expect(journal.end).toEqual(end);

      rmSync(filler);
      const later = prompts(2, 1000);
      journal.append(later);
      const read = journal.read({ segment: 0, offset: 0 }, 100);
      expect(ids(read)).toEqual(idsOf([...first, ...later])); // nothing of the failed batch, nothing glued
      journal.close();
    },
  );

  it('never fills a small disk with records the store keeps up with, even a little behind', () => {
    const fs = mountSmallFs(4, 'tmpfs');
    mounted.push(fs);
    const journal = new Journal(join(fs.dir, 'journal'));
    let taken = journal.end;
    for (let i = 0; i < 200; i++) {
      const [entry] = journal.append(prompts(1, 60_000)); // 12 MB in all, on a 4 MB disk
      journal.commit(taken); // the store has everything but the record just written
      taken = entry?.end ?? taken;
    }
    expect(fs.free()).toBeGreaterThan(2_000_000);
    journal.commit(taken);
    expect(journal.read(journal.checkpoint, 10)).toEqual([]);
    journal.close();
  });

  it('gives back the space of records the store has all taken when the disk is full', () => {
    const fs = mountSmallFs(4, 'tmpfs');
    mounted.push(fs);
    const journal = new Journal(join(fs.dir, 'journal'));
    journal.append(prompts(15, 60_000)); // 900 kB in the live segment: not yet large enough to be left
    fill(fs, join(fs.dir, 'filler'));
    expect(() => journal.append(prompts(1, 60_000))).toThrow(expect.objectContaining({ code: 'ENOSPC' }));
    expect(journal.reclaim()).toBe(false); // the store has not taken them: nothing may go

    journal.commit(journal.end);
    expect(journal.reclaim()).toBe(true);
    expect(fs.free()).toBeGreaterThan(800_000);
    const next = prompts(1, 60_000);
    journal.append(next);
    expect(ids(journal.read(journal.checkpoint, 10))).toEqual(idsOf(next));
    expect(readdirSync(join(fs.dir, 'journal')).filter((n) => n.endsWith('.ndjson'))).toHaveLength(1);
    journal.close();
  });
});
