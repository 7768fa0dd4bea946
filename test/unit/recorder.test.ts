import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/logger.ts';
import { drainJournals, journalDir, orphanJournals } from '../../src/recorder/journal-dirs.ts';
import { Recorder } from '../../src/recorder/recorder.ts';
import type { RecordOp } from '../../src/recorder/records.ts';
import type { Store } from '../../src/store/store.ts';
import { LogCapture } from '../helpers/bridge.ts';
import { interceptionRecord } from '../helpers/records.ts';
import { tempDirs } from '../helpers/temp.ts';

const tempDir = tempDirs('aibridge-recorder-');

/** A store behind the Store interface that keeps what it is given, and can be down or refuse records. */
function fakeStore() {
  const written: RecordOp[][] = [];
  const state = { down: false, refuse: new Set<string>() };
  const idOf = (op: RecordOp) => (op.kind === 'interception_ended' ? op.id : op.doc._id);
  const store = {
    kind: 'embedded',
    location: 'fake',
    records: {
      async write(ops: RecordOp[]) {
        if (state.down) throw Object.assign(new Error('store unreachable'), { transient: true });
        if (ops.some((op) => state.refuse.has(idOf(op)))) throw new Error('document too large');
        written.push(ops);
      },
    },
    async ping() {
      return !state.down;
    },
    isPermanent: (err: unknown) => !(err as { transient?: boolean }).transient,
  } as unknown as Store;
  return { store, written, state, all: () => written.flat() };
}

const started = (id: string): RecordOp => ({
  kind: 'interception',
  doc: interceptionRecord({ _id: id, ended_at: null, status: null, metadata: { streaming: false } }),
});
const prompt = (id: string, text = 'hi'): RecordOp => ({
  kind: 'user_prompt',
  doc: { _id: randomUUID(), interception_id: id, provider_response_id: null, prompt: text, created_at: new Date() },
});
const ended = (id: string): RecordOp => ({
  kind: 'interception_ended',
  id,
  ended_at: new Date(),
  status: 'completed',
  cost_usd: 0.5,
  totals: { input_tokens: 1, output_tokens: 1, cache_read_input_tokens: 0, cache_write_input_tokens: 0, tool_calls: 0 },
  metadata: { iterations: 1 },
});
const logger = () => {
  const logs = new LogCapture();
  return { logs, log: createLogger({ level: 'debug', destination: logs }) };
};

describe('recorder', () => {
  it('writes a short interception as inserts only: its start and end merged into one document', async () => {
    const fake = fakeStore();
    const recorder = new Recorder(fake.store, logger().log, { dataDir: tempDir() });
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
    const first = new Recorder(fake.store, logger().log, { dataDir });
    const id = randomUUID();
    for (const op of [started(id), prompt(id), ended(id)]) first.record(op);
    await first.durable();
    // On disk once durable() resolved, before anything was shipped (as a kill -9 right now would find it).
    const segment = readdirSync(join(dataDir, 'journal')).find((n) => n.endsWith('.ndjson')) as string;
    expect(readFileSync(join(dataDir, 'journal', segment), 'utf8')).toContain(id);
    await first.close(200); // the store is down: everything stays in the journal

    fake.state.down = false;
    const second = new Recorder(fake.store, logger().log, { dataDir });
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
    const recorder = new Recorder(fake.store, logger().log, { dataDir });
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
      const worker = new Recorder(fake.store, logger().log, { dataDir, journalDir: journalDir(dataDir, i + 1) });
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

  it('sets a record the store refuses for good aside in dead-letter, logs it, and writes the rest', async () => {
    const dataDir = tempDir();
    const fake = fakeStore();
    const { logs, log } = logger();
    const recorder = new Recorder(fake.store, log, { dataDir });
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
    const recorder = new Recorder(fake.store, logger().log, { dataDir: tempDir() });
    const ids = Array.from({ length: 5 }, () => randomUUID());
    for (const id of ids) for (const op of [started(id), ended(id)]) recorder.record(op);
    await recorder.flush();
    expect(recorder.stats().deadLettered).toBe(0);
    fake.state.down = false;
    await recorder.flush();
    expect(fake.all().filter((op) => op.kind === 'interception')).toHaveLength(5);
    await recorder.close();
  });

  it('keeps serving when the journal cannot be written: records go to the store from memory, the error is counted', async () => {
    const dataDir = tempDir();
    const fake = fakeStore();
    const { logs, log } = logger();
    const recorder = new Recorder(fake.store, log, { dataDir });
    rmSync(join(dataDir, 'journal'), { recursive: true }); // every append now fails, like EMFILE or ENOSPC would
    const id = randomUUID();
    for (const op of [started(id), prompt(id), ended(id)]) recorder.record(op);
    await recorder.flush();
    expect(fake.all().map((op) => op.kind)).toEqual(['interception', 'user_prompt']);
    expect(recorder.stats()).toMatchObject({ journalErrors: 1, dropped: 0 });
    expect(logs.text).toMatch(/journal append failed/);
    await recorder.close();
  });
});
