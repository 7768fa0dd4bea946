import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { drainJournals, journalDir, orphanJournals } from '../../src/recorder/journal-dirs.ts';
import { JournalRecorder } from '../../src/recorder/recorder.ts';
import type { RecordOp } from '../../src/store/records.ts';
import { ended, fakeStore, logger, prompt, started } from '../helpers/record-store.ts';
import { tempDirs } from '../helpers/temp.ts';

const tempDir = tempDirs('aibridge-recorder-');

describe('recorder', () => {
  it('writes a short interception as inserts only: its start and end merged into one document', async () => {
    const fake = fakeStore();
    const recorder = new JournalRecorder(fake.store, logger().log, { dataDir: tempDir() });
    const id = randomUUID();
    for (const op of [started(id), prompt(id), ended(id)]) recorder.record(op);
    await recorder.flush();
    expect(fake.all().map((op) => op.kind)).toEqual(['interception', 'user_prompt']);
    const doc = (fake.all()[0] as Extract<RecordOp, { kind: 'interception' }>).doc;
    expect(doc).toMatchObject({ status: 'completed', cost_usd: 0.5, metadata: { streaming: false, iterations: 1 } });
    await recorder.close();
  });

  it('journals an interception’s records when it ends, before durable() resolves, and a new recorder replays them', async () => {
    const dataDir = tempDir();
    const fake = fakeStore();
    fake.state.down = true;
    const first = new JournalRecorder(fake.store, logger().log, { dataDir });
    const id = randomUUID();
    for (const op of [started(id), prompt(id), ended(id)]) first.record(op);
    await first.durable();
    // On disk once durable() resolved, before anything was shipped (as a kill -9 right now would find it).
    const segment = readdirSync(join(dataDir, 'journal')).find((n) => n.endsWith('.ndjson')) as string;
    expect(readFileSync(join(dataDir, 'journal', segment), 'utf8')).toContain(id);
    await first.close(200); // the store is down: everything stays in the journal

    fake.state.down = false;
    const second = new JournalRecorder(fake.store, logger().log, { dataDir });
    await second.flush();
    expect(
      fake
        .all()
        .filter((op) => op.kind === 'interception')
        .map((op) => (op as { doc: { _id: string } }).doc._id),
    ).toEqual([id]);
    expect(second.stats().backlogBytes).toBe(0);
    await second.close();
  });

  it('appends the interceptions that end in one turn of the event loop in one write (group commit)', async () => {
    const dataDir = tempDir();
    const fake = fakeStore();
    fake.state.down = true;
    const recorder = new JournalRecorder(fake.store, logger().log, { dataDir });
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    expect(recorder.durable()).toBeUndefined(); // nothing pending
    for (const id of ids) for (const op of [started(id), ended(id)]) recorder.record(op);
    const commit = recorder.durable();
    expect(commit).toBeInstanceOf(Promise);
    const journal = join(dataDir, 'journal');
    const text = () =>
      readdirSync(journal)
        .filter((n) => n.endsWith('.ndjson'))
        .map((n) => readFileSync(join(journal, n), 'utf8'))
        .join('');
    expect(text()).toBe(''); // not yet: the turn is not over
    await commit;
    const lines = text().trim().split('\n');
    expect(lines).toHaveLength(3); // each interception's start and end merged into one record
    for (const id of ids) expect(text()).toContain(id);
    expect(recorder.durable()).toBeUndefined();
    await recorder.close(100);
  });

  it('journals per worker, and ships what the journals of a run with another worker count left', async () => {
    const dataDir = tempDir();
    const fake = fakeStore();
    fake.state.down = true;
    const ids = [randomUUID(), randomUUID()];
    // A run with two workers, killed while the store was down: each left records in its own journal.
    for (const [i, id] of ids.entries()) {
      const worker = new JournalRecorder(fake.store, logger().log, { dataDir, journalDir: journalDir(dataDir, i + 1) });
      for (const op of [started(id), ended(id)]) worker.record(op);
      await worker.close(100);
    }
    expect(readdirSync(join(dataDir, 'journal')).sort()).toEqual(['worker-1', 'worker-2']);
    fake.state.down = false;

    // The next run is one process: both worker journals are someone else's now.
    const orphans = orphanJournals(dataDir, [journalDir(dataDir)]);
    expect(orphans.sort()).toEqual([journalDir(dataDir, 1), journalDir(dataDir, 2)]);
    await drainJournals(fake.store, logger().log, dataDir, orphans);
    const shipped = fake.all().map((op) => (op as { doc: { _id: string } }).doc._id);
    expect(shipped.sort()).toEqual([...ids].sort());
    expect(orphanJournals(dataDir, [journalDir(dataDir)])).toEqual([]); // nothing left to replay
    // A run with one worker owns worker-1 and finds nothing else either.
    expect(orphanJournals(dataDir, [journalDir(dataDir, 1)])).toEqual([]);
  });

  it('sets a damaged journal line aside in dead-letter, counted and logged, and writes the records around it', async () => {
    const dataDir = tempDir();
    const fake = fakeStore();
    fake.state.down = true;
    const first = new JournalRecorder(fake.store, logger().log, { dataDir });
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    for (const id of ids) {
      for (const op of [started(id), prompt(id), ended(id)]) first.record(op);
      await first.durable(); // one line each
    }
    await first.close(200);
    const segment = join(dataDir, 'journal', readdirSync(join(dataDir, 'journal')).find((n) => n.endsWith('.ndjson'))!);
    const lines = readFileSync(segment, 'utf8').split('\n');
    const hit = lines.findIndex((l) => l.includes(ids[1] as string) && l.includes('"interception"'));
    lines[hit] = (lines[hit] as string).replace('{', '#'); // one byte of a bad disk
    writeFileSync(segment, lines.join('\n'));

    fake.state.down = false;
    const { logs, log } = logger();
    const second = new JournalRecorder(fake.store, log, { dataDir });
    await second.flush();
    const written = fake
      .all()
      .filter((op) => op.kind === 'interception')
      .map((op) => (op as { doc: { _id: string } }).doc._id);
    expect(written).toEqual([ids[0], ids[2]]);
    expect(second.stats()).toMatchObject({ deadLettered: 1 });
    expect(logs.text).toMatch(/a journal line is damaged/);
    const [file] = readdirSync(join(dataDir, 'dead-letter'));
    const letter = JSON.parse(readFileSync(join(dataDir, 'dead-letter', file as string), 'utf8'));
    expect(letter.line).toBe(lines[hit]);
    await second.close();
  });

  it('sets a record the store refuses for good aside in dead-letter, logs it, and writes the rest', async () => {
    const dataDir = tempDir();
    const fake = fakeStore();
    const { logs, log } = logger();
    const recorder = new JournalRecorder(fake.store, log, { dataDir });
    const poison = prompt('p', 'x'.repeat(1000));
    fake.state.refuse.add(poison.kind === 'user_prompt' ? poison.doc._id : '');
    const ids = Array.from({ length: 20 }, () => randomUUID());
    recorder.record(poison);
    for (const id of ids) for (const op of [started(id), prompt(id), ended(id)]) recorder.record(op);
    await recorder.flush();
    expect(fake.all().filter((op) => op.kind === 'interception')).toHaveLength(20);
    expect(recorder.stats()).toMatchObject({ deadLettered: 1, dropped: 0 });
    const [file] = readdirSync(join(dataDir, 'dead-letter'));
    const letter = JSON.parse(readFileSync(join(dataDir, 'dead-letter', file as string), 'utf8'));
    expect(letter).toMatchObject({ error: 'document too large', op: { kind: 'user_prompt' } });
    expect(logs.text).toMatch(/refused a record for good/);
    expect(logs.text).not.toContain('x'.repeat(100)); // the log names the record, never its text
    await recorder.close();
  });

  it('never dead-letters during an outage: records wait and are all written once the store is back', async () => {
    const fake = fakeStore();
    fake.state.down = true;
    const recorder = new JournalRecorder(fake.store, logger().log, { dataDir: tempDir() });
    const ids = Array.from({ length: 5 }, () => randomUUID());
    for (const id of ids) for (const op of [started(id), ended(id)]) recorder.record(op);
    await recorder.flush();
    expect(recorder.stats().deadLettered).toBe(0);
    fake.state.down = false;
    await recorder.flush();
    expect(fake.all().filter((op) => op.kind === 'interception')).toHaveLength(5);
    await recorder.close();
  });

  it('holds records in memory when the journal directory is gone, and journals them first once it is back', async () => {
    const dataDir = tempDir();
    const fake = fakeStore();
    const { logs, log } = logger();
    const recorder = new JournalRecorder(fake.store, log, { dataDir });
    rmSync(join(dataDir, 'journal'), { recursive: true }); // every append now fails (ENOENT)
    const id = randomUUID();
    for (const op of [started(id), prompt(id), ended(id)]) recorder.record(op);
    await recorder.flush();
    expect(fake.all()).toEqual([]); // never from memory: what is not on disk is not shipped
    expect(recorder.stats()).toMatchObject({ unjournaled: 2, dropped: 0 });
    expect(recorder.failure()).toMatchObject({ where: 'journal', cause: 'directory missing (ENOENT)' });

    mkdirSync(join(dataDir, 'journal'));
    await recorder.flush();
    expect(fake.all().map((op) => op.kind)).toEqual(['interception', 'user_prompt']);
    expect(recorder.stats()).toMatchObject({ unjournaled: 0, dropped: 0, unrecorded: 0 });
    expect(recorder.failure()).toBeUndefined();
    expect(logs.text).toMatch(/journal cannot be written/);
    await recorder.close();
  });
});
