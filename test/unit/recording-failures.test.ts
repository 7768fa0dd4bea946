/**
 * When records cannot be kept (README "Reliability"): how store and journal failures are told
 * apart, and what the recorder does in each state — records held in memory in order while the
 * journal cannot be appended, bounded, and appended first once it can.
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MongoNetworkError, MongoServerError, MongoWriteConcernError } from 'mongodb';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { failureCause } from '../../src/recorder/failure-cause.ts';
import { RecordingHealth, STORE_GRACE_MS } from '../../src/recorder/health.ts';
import { Journal } from '../../src/recorder/journal.ts';
import { JournalRecorder } from '../../src/recorder/recorder.ts';
import type { RecordOp } from '../../src/store/records.ts';
import { EmbeddedDatabase, migrate, openDatabase } from '../../src/store/sqlite/database.ts';
import { openEmbeddedStore } from '../../src/store/sqlite/store.ts';
import type { Store } from '../../src/store/store.ts';
import { testMongoStore } from '../helpers/db.ts';
import { ended, fakeStore, interceptionOf, logger, prompt, started } from '../helpers/record-store.ts';
import { tempDirs } from '../helpers/temp.ts';

const tempDir = tempDirs('aibridge-failures-');

/** What Node throws when a write meets a full disk. */
const enospc = () =>
  Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });

const interceptionIds = (ops: RecordOp[]) => ops.filter((op) => op.kind === 'interception').map(interceptionOf);
const linesOf = (logs: { lines: string[] }, msg: RegExp) =>
  logs.lines.map((line) => JSON.parse(line) as { level: number; msg: string }).filter((l) => msg.test(l.msg));

describe('failureCause', () => {
  it.each([
    [enospc(), 'disk full (ENOSPC)'],
    [Object.assign(new Error('EDQUOT'), { code: 'EDQUOT' }), 'disk quota exceeded (EDQUOT)'],
    [Object.assign(new Error('EIO'), { code: 'EIO' }), 'I/O error (EIO)'],
    [Object.assign(new Error('EROFS'), { code: 'EROFS' }), 'read-only file system (EROFS)'],
    [Object.assign(new Error('database or disk is full'), { errcode: 13 }), 'disk full (SQLITE_FULL)'],
    [Object.assign(new Error('disk I/O error'), { errcode: 778 /* IOERR_WRITE */ }), 'I/O error (SQLITE_IOERR)'],
    [
      Object.assign(new Error('readonly'), { errcode: 1032 /* READONLY_DBMOVED */ }),
      'read-only database (SQLITE_READONLY)',
    ],
    [new MongoNetworkError('connection 3 to db.internal:27017 closed'), 'MongoDB unreachable (MongoNetworkError)'],
    [
      new MongoServerError({ message: 'x', code: 14031, codeName: 'OutOfDiskSpace' }),
      'MongoDB error OutOfDiskSpace (code 14031)',
    ],
    [new TypeError('bad shape'), 'store error (TypeError)'],
  ])('names %s as "%s", without its message', (err, cause) => {
    expect(failureCause(err)).toBe(cause);
  });
});

describe('store classifiers: a passing condition is never a record refused for good', () => {
  it('embedded: SQLITE_FULL reaches the classifier with its own code, not "cannot rollback" (SQLite rolled back itself)', () => {
    const database = new EmbeddedDatabase(openDatabase(join(tempDir(), 'aibridge.db')));
    migrate(database.db);
    const { page_count } = database.db.prepare('PRAGMA page_count').get() as { page_count: number };
    database.db.exec(`PRAGMA max_page_count = ${page_count + 8}`); // the file cannot grow: what a full disk does
    const big = 'x'.repeat(60_000);
    const ops: RecordOp[] = Array.from({ length: 10 }, () => prompt(randomUUID(), big));
    let thrown: unknown;
    try {
      database.records.write(ops);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toMatchObject({ errcode: 13, message: 'database or disk is full' });
    expect(database.db.isTransaction).toBe(false);
    const store = openEmbeddedStore(tempDir(), 'inline');
    expect(store.isPermanent(thrown)).toBe(false);
    // The connection still works once there is room.
    database.db.exec('PRAGMA max_page_count = 1073741823');
    database.records.write(ops);
    database.close();
    return store.close();
  });

  it('embedded: full, I/O, read-only, busy are passing; a constraint or a bad record is for good', async () => {
    const store = openEmbeddedStore(tempDir(), 'inline');
    for (const errcode of [13, 10, 778, 8, 1032, 5, 6, 14])
      expect(store.isPermanent({ errcode }), `${errcode}`).toBe(false);
    for (const err of [{ errcode: 19 }, { errcode: 18 /* TOOBIG */ }, new SyntaxError('bad JSON')])
      expect(store.isPermanent(err)).toBe(true);
    await store.close();
  });

  describe('mongodb', () => {
    let store: Store;
    beforeAll(async () => {
      store = await testMongoStore('recording-failures');
    });
    afterAll(() => store?.close());

    it('network, write concern, out of disk and retryable errors are passing; a document refused is for good', () => {
      const passing = [
        new MongoNetworkError('connection closed'),
        new MongoWriteConcernError({
          ok: 1,
          writeConcernError: { code: 64, errmsg: 'waiting for replication timed out' },
        }),
        // Even with a document code: the write concern was missed, not the document refused.
        new MongoWriteConcernError({ ok: 1, writeConcernError: { code: 2, errmsg: 'bad write concern' } }),
        new MongoServerError({ message: 'out of disk', code: 14031, codeName: 'OutOfDiskSpace' }),
        new MongoServerError({ message: 'stepping down', code: 2, errorLabels: ['RetryableWriteError'] }),
      ];
      for (const err of passing) expect(store.isPermanent(err), err.message).toBe(false);
      expect(store.isPermanent(new MongoServerError({ message: 'object to insert too large', code: 10334 }))).toBe(
        true,
      );
    });
  });
});

describe('RecordingHealth: one line per change of state, never per record', () => {
  it('warns at a store failure, reports it past the grace, and says when it recovers', () => {
    const { logs, log } = logger();
    const health = new RecordingHealth(log);
    const before = Date.now();
    for (let i = 0; i < 50; i++) health.storeFailed('disk full (SQLITE_FULL)', new Error('database or disk is full'));
    expect(health.failure(before + STORE_GRACE_MS - 100)).toBeUndefined();
    for (let i = 0; i < 50; i++) health.tick(before + STORE_GRACE_MS - 100);
    const late = Date.now() + STORE_GRACE_MS;
    expect(health.failure(late)).toMatchObject({ where: 'store', cause: 'disk full (SQLITE_FULL)' });
    for (let i = 0; i < 50; i++) health.tick(late);
    health.storeRecovered();
    health.storeRecovered();
    expect(health.failure(late)).toBeUndefined();
    expect(linesOf(logs, /store/).map((l) => l.level)).toEqual([40, 50, 30]); // warn, error, info
  });

  it('reports a journal failure at once, again only if its cause changes, and its recovery', () => {
    const { logs, log } = logger();
    const health = new RecordingHealth(log);
    for (let i = 0; i < 50; i++) health.journalFailed('disk full (ENOSPC)', enospc(), i);
    expect(health.failure()).toMatchObject({ where: 'journal', cause: 'disk full (ENOSPC)' });
    health.journalFailed('I/O error (EIO)', new Error('EIO'), 50);
    health.journalRecovered(50);
    health.journalRecovered(50);
    expect(health.failure()).toBeUndefined();
    expect(linesOf(logs, /journal/).map((l) => l.level)).toEqual([50, 50, 30]);
  });
});

describe('recorder when the journal cannot be appended', () => {
  let diskFull = false;
  beforeAll(() => {
    const append = Journal.prototype.appendLines;
    vi.spyOn(Journal.prototype, 'appendLines').mockImplementation(function (this: Journal, lines) {
      if (diskFull) throw enospc();
      return append.call(this, lines);
    });
  });
  afterEach(() => {
    diskFull = false;
  });
  afterAll(() => vi.restoreAllMocks());

  /** One interception, recorded and journaled (or held) before it returns: a group commit waits for the turn's end. */
  const interception = async (recorder: JournalRecorder, id: string, text = 'hi') => {
    for (const op of [started(id), prompt(id, text), ended(id)]) recorder.record(op);
    await recorder.durable();
  };

  it('holds records in memory, in order; once it can, appends them after what was journaled before and before anything newer', async () => {
    const dataDir = tempDir();
    const fake = fakeStore();
    const { logs, log } = logger();
    fake.state.down = true; // what was journaled before the failure is still waiting for the store
    const recorder = new JournalRecorder(fake.store, log, { dataDir });
    const [a, b, c, d] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()] as [string, string, string, string];
    await interception(recorder, a);
    diskFull = true;
    await interception(recorder, b);
    await interception(recorder, c);
    expect(recorder.failure()).toMatchObject({ where: 'journal', cause: 'disk full (ENOSPC)' });
    expect(recorder.stats()).toMatchObject({ unjournaled: 4, dropped: 0 });
    for (let i = 0; i < 5; i++) await recorder.flush(); // each tries the journal again: still one ERROR

    diskFull = false;
    fake.state.down = false;
    await recorder.flush();
    await interception(recorder, d);
    await recorder.flush();
    expect(interceptionIds(fake.all())).toEqual([a, b, c, d]);
    expect(fake.all().map(interceptionOf)).toEqual([a, a, b, b, c, c, d, d]);
    expect(recorder.failure()).toBeUndefined();
    expect(recorder.stats()).toMatchObject({ unjournaled: 0, dropped: 0, unrecorded: 0, journalErrors: 6 });

    // On disk in the same order (a restart would replay them so).
    const journal = join(dataDir, 'journal');
    const text = readdirSync(journal)
      .filter((n) => n.endsWith('.ndjson'))
      .sort()
      .map((n) => readFileSync(join(journal, n), 'utf8'))
      .join('');
    const at = [a, b, c, d].map((id) => text.indexOf(id));
    expect([...at].sort((x, y) => x - y)).toEqual(at);
    expect(at.every((i) => i >= 0)).toBe(true);

    expect(linesOf(logs, /journal/).map((l) => [l.level, l.msg])).toEqual([
      [50, 'recorder: the journal cannot be written; records are held in memory until it can'],
      [30, 'recorder: the journal takes records again; those held in memory are in it'],
    ]);
    await recorder.close();
  });

  it('is bounded: once memory is full, newer interceptions are not kept, each counted once; the kept ones all reach the store', async () => {
    const fake = fakeStore();
    const recorder = new JournalRecorder(fake.store, logger().log, { dataDir: tempDir() });
    diskFull = true;
    const mib = 'x'.repeat(1024 * 1024);
    const ids = Array.from({ length: 80 }, () => randomUUID());
    for (const id of ids) await interception(recorder, id, mib);
    const { unjournaled, unrecorded, dropped } = recorder.stats();
    expect(unrecorded).toBeGreaterThan(0);
    expect(unjournaled / 2 + unrecorded).toBe(80);
    expect(dropped).toBe(unrecorded * 2); // an interception's records are kept or lost together
    expect((unjournaled / 2) * mib.length).toBeLessThanOrEqual(64 * 1024 * 1024); // the bound: 64 Mi characters

    diskFull = false;
    await recorder.flush();
    expect(interceptionIds(fake.all())).toEqual(ids.slice(0, 80 - unrecorded)); // the oldest are kept
    expect(recorder.stats()).toMatchObject({ unjournaled: 0, unrecorded });
    await recorder.close();
  });

  it('at shutdown with the journal still failing, sends what it holds straight to the store, after what is journaled', async () => {
    const fake = fakeStore();
    const { logs, log } = logger();
    fake.state.down = true;
    const recorder = new JournalRecorder(fake.store, log, { dataDir: tempDir() });
    const [a, b] = [randomUUID(), randomUUID()];
    await interception(recorder, a);
    diskFull = true;
    await interception(recorder, b);
    fake.state.down = false;
    await recorder.close(2_000);
    expect(interceptionIds(fake.all())).toEqual([a, b]);
    expect(recorder.stats()).toMatchObject({ dropped: 0, unrecorded: 0, unjournaled: 0 });
    expect(logs.text).not.toMatch(/lost/);
  });

  it('counts and logs what it loses at shutdown when neither the journal nor the store takes it', async () => {
    const fake = fakeStore();
    const { logs, log } = logger();
    fake.state.down = true;
    const recorder = new JournalRecorder(fake.store, log, { dataDir: tempDir() });
    diskFull = true;
    await interception(recorder, randomUUID());
    await recorder.close(300);
    expect(recorder.stats()).toMatchObject({ dropped: 2, unrecorded: 1 });
    expect(linesOf(logs, /lost at shutdown/)).toHaveLength(1);
  });
});

describe('recorder when the store refuses writes', () => {
  it('keeps records in the journal on a full disk (never dead-lettered), and writes them all once it has room', async () => {
    const fake = fakeStore();
    const { logs, log } = logger();
    const recorder = new JournalRecorder(fake.store, log, { dataDir: tempDir() });
    fake.state.failWith = Object.assign(new Error('database or disk is full'), { errcode: 13, transient: true });
    const ids = Array.from({ length: 5 }, () => randomUUID());
    for (const id of ids) for (const op of [started(id), ended(id)]) recorder.record(op);
    await recorder.flush();
    expect(recorder.stats()).toMatchObject({ written: 0, deadLettered: 0, dropped: 0 });
    expect(recorder.stats().backlogBytes).toBeGreaterThan(0);
    expect(recorder.failure()).toBeUndefined(); // a blip: not past the grace yet

    fake.state.failWith = undefined;
    await recorder.flush();
    expect(interceptionIds(fake.all())).toEqual(ids);
    expect(linesOf(logs, /store/).map((l) => [l.level, (l as { cause?: string }).cause])).toEqual([
      [40, 'disk full (SQLITE_FULL)'],
      [30, 'disk full (SQLITE_FULL)'],
    ]);
    await recorder.close();
  });

  it('leaves a record refused for good where it was when the dead-letter file cannot be written, and moves on once it can', async () => {
    const dataDir = tempDir();
    const fake = fakeStore();
    const { logs, log } = logger();
    writeFileSync(join(dataDir, 'dead-letter'), ''); // a file where the directory should be: no dead letter can be written
    const recorder = new JournalRecorder(fake.store, log, { dataDir });
    const poison = prompt(randomUUID(), 'x'.repeat(1000));
    fake.state.refuse.add(poison.kind === 'user_prompt' ? poison.doc._id : '');
    const ids = Array.from({ length: 3 }, () => randomUUID());
    recorder.record(poison);
    for (const id of ids) for (const op of [started(id), ended(id)]) recorder.record(op);
    await recorder.flush();
    expect(recorder.stats()).toMatchObject({ deadLettered: 0, dropped: 0 });
    expect(recorder.stats().backlogBytes).toBeGreaterThan(0);
    expect(linesOf(logs, /store write failed/)).toMatchObject([
      { cause: expect.stringMatching(/^the dead-letter file cannot be written: /) },
    ]);

    rmSync(join(dataDir, 'dead-letter'));
    await recorder.flush();
    expect(recorder.stats()).toMatchObject({ deadLettered: 1, dropped: 0, backlogBytes: 0 });
    expect(interceptionIds(fake.all())).toEqual(ids);
    await recorder.close();
  });
});
