import { randomUUID } from 'node:crypto';
import type { Counter } from 'prom-client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseDuration } from '../../src/config/duration.ts';
import type { InterceptionRecord } from '../../src/recorder/records.ts';
import { acquireLease, purge } from '../../src/retention/purge.ts';
import { CHILD_COLLECTIONS, COLLECTIONS, type Store } from '../../src/store/mongo.ts';
import { startTestBridge } from '../helpers/bridge.ts';
import { testStore } from '../helpers/db.ts';
import { waitUntil } from '../helpers/process.ts';

let store: Store;
const HOUR = 3_600_000;

beforeAll(async () => {
  store = await testStore('retention');
});
afterAll(() => store?.close());
beforeEach(async () => {
  for (const name of [COLLECTIONS.interceptions, COLLECTIONS.leases, ...CHILD_COLLECTIONS]) {
    await store.db.collection(name).deleteMany({});
  }
});

/** Inserts interceptions started `ageMs` ago, each with one document in every child collection. */
async function seed(count: number, ageMs: number): Promise<string[]> {
  const started = new Date(Date.now() - ageMs);
  const ids = Array.from({ length: count }, () => randomUUID());
  await store.db.collection<InterceptionRecord>(COLLECTIONS.interceptions).insertMany(
    ids.map((id) => ({
      _id: id,
      initiator_id: 'u1',
      api_key_id: 'k1',
      provider: 'openai' as const,
      provider_name: 'openai',
      model: 'gpt-5',
      client: 'Codex',
      user_agent: null,
      client_session_id: null,
      started_at: started,
      ended_at: started,
      status: 'completed' as const,
      cost_usd: null,
      totals: null,
      metadata: {},
    })),
  );
  for (const name of CHILD_COLLECTIONS) {
    await store.db
      .collection(name)
      .insertMany(ids.map((id) => ({ _id: randomUUID() as never, interception_id: id, created_at: started })));
  }
  return ids;
}

const remaining = async (name: string, ids: string[]) =>
  store.db
    .collection(name)
    .countDocuments(
      name === COLLECTIONS.interceptions ? { _id: { $in: ids as never[] } } : { interception_id: { $in: ids } },
    );

describe('retention purge', () => {
  it('deletes old interceptions with all their children, in batches, and spares recent data', async () => {
    const old = await seed(23, 3 * HOUR);
    const recent = await seed(5, 10 * 60_000);
    const run = await purge(store.db, { holder: 'a', cutoff: new Date(Date.now() - HOUR), batchSize: 5, pauseMs: 0 });
    expect(run).toMatchObject({ ran: true, interceptions: 23, batches: 5 });
    for (const name of CHILD_COLLECTIONS) expect(run.children[name], name).toBe(23);
    for (const name of [COLLECTIONS.interceptions, ...CHILD_COLLECTIONS]) {
      expect(await remaining(name, old), name).toBe(0);
      expect(await remaining(name, recent), name).toBe(5);
    }
    const again = await purge(store.db, { holder: 'a', cutoff: new Date(Date.now() - HOUR) });
    expect(again).toMatchObject({ ran: true, interceptions: 0, batches: 0 });
  });

  it('lets only one of two racing purgers run, and deletes everything once', async () => {
    const old = await seed(40, 2 * HOUR);
    const cutoff = new Date(Date.now() - HOUR);
    // Small batches with pauses keep the first run holding the lease while the second tries.
    const runs = await Promise.all(
      ['replica-1', 'replica-2'].map((holder) => purge(store.db, { holder, cutoff, batchSize: 4, pauseMs: 30 })),
    );
    expect(runs.filter((r) => r.ran)).toHaveLength(1);
    expect(runs.map((r) => r.interceptions).sort()).toEqual([0, 40]);
    expect(await remaining(COLLECTIONS.interceptions, old)).toBe(0);
    // The winner released the lease: the next run, by anyone, may start at once.
    expect(await acquireLease(store.db, 'replica-3', 60_000)).toBe(true);
  });

  it('takes over an expired lease but never a live one', async () => {
    expect(await acquireLease(store.db, 'dead', 60_000, new Date(Date.now() - 120_000))).toBe(true);
    expect(await acquireLease(store.db, 'live', 60_000)).toBe(true);
    expect(await acquireLease(store.db, 'other', 60_000)).toBe(false);
    expect(await acquireLease(store.db, 'live', 60_000)).toBe(true); // renewal by the holder
    await seed(3, 2 * HOUR);
    const blocked = await purge(store.db, { holder: 'other', cutoff: new Date(Date.now() - HOUR) });
    expect(blocked).toMatchObject({ ran: false, interceptions: 0 });
    expect(await store.db.collection(COLLECTIONS.interceptions).countDocuments({})).toBe(3);
  });
});

/** A counter's total over the series whose labels match. */
async function counted(counter: Counter, labels: Record<string, string> = {}): Promise<number> {
  const { values } = await counter.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))
    .reduce((n, v) => n + v.value, 0);
}

describe('retention service', () => {
  it('purges at start-up from the configured period and logs how much', async () => {
    const old = await seed(7, 2 * HOUR);
    const recent = await seed(2, 60_000);
    const bridge = await startTestBridge(store, { retention: '1h' });
    try {
      const metrics = bridge.ctx.metrics;
      await waitUntil(async () => (await counted(metrics.retentionRuns)) >= 1);
      expect(await counted(metrics.retentionPurged, { collection: COLLECTIONS.interceptions })).toBe(7);
      expect(await counted(metrics.retentionPurged)).toBe(7 + 7 * 4);
      expect(await remaining(COLLECTIONS.interceptions, old)).toBe(0);
      expect(await remaining(COLLECTIONS.interceptions, recent)).toBe(2);
      const line = bridge.logs.lines.map((l) => JSON.parse(l)).find((l) => l.component === 'retention');
      expect(line).toMatchObject({ interceptions: 7, msg: expect.stringMatching(/retention purge/) });
    } finally {
      await bridge.close();
    }
  });

  it('keeps everything with retention 0', async () => {
    await seed(4, 400 * 24 * HOUR);
    const bridge = await startTestBridge(store, { retention: 0 });
    try {
      await new Promise((r) => setTimeout(r, 200));
      expect(await counted(bridge.ctx.metrics.retentionRuns)).toBe(0);
      expect(await store.db.collection(COLLECTIONS.interceptions).countDocuments({})).toBe(4);
    } finally {
      await bridge.close();
    }
  });

  it('reads the documented units', () => {
    expect(parseDuration('60d')).toBe(60 * 24 * HOUR);
    expect(parseDuration('1440h')).toBe(60 * 24 * HOUR);
    expect(parseDuration('30m')).toBe(30 * 60_000);
    expect(parseDuration(0)).toBe(0);
  });
});
