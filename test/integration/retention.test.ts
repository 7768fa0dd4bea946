import { randomUUID } from 'node:crypto';
import type { Counter } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAll } from '../../src/audit/verify.ts';
import { parseDuration } from '../../src/duration.ts';
import { purge, RETENTION_LEASE } from '../../src/retention/purge.ts';
import type { RecordOp } from '../../src/store/records.ts';
import { CHILD_COLLECTIONS, COLLECTIONS } from '../../src/store/store.ts';
import { startTestBridge } from '../helpers/bridge.ts';
import { STORE_KINDS, type TestStore, testStore } from '../helpers/db.ts';
import { waitUntil } from '../helpers/process.ts';
import { interceptionRecord, promptRecord, toolUsageRecord } from '../helpers/records.ts';

const HOUR = 3_600_000;

/** A counter's total over the series whose labels match. */
async function counted(counter: Counter, labels: Record<string, string> = {}): Promise<number> {
  const { values } = await counter.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))
    .reduce((n, v) => n + v.value, 0);
}

describe.each(STORE_KINDS)('retention on the %s store', (kind) => {
  let store: TestStore;
  let initiator = '';
  beforeAll(async () => {
    store = await testStore(kind, `retention-${kind}`);
  });
  afterAll(() => store?.close());

  /** Interceptions started `ageMs` ago by a fresh initiator, each with one document of every child kind. */
  async function seed(count: number, ageMs: number): Promise<string[]> {
    const started = new Date(Date.now() - ageMs);
    const ids = Array.from({ length: count }, () => randomUUID());
    const ops: RecordOp[] = [];
    for (const id of ids) {
      const doc = interceptionRecord({ _id: id, initiator_id: initiator, started_at: started });
      ops.push(
        { kind: 'interception', doc },
        { kind: 'user_prompt', doc: promptRecord(doc, 'p') },
        {
          kind: 'token_usage',
          doc: {
            _id: randomUUID(),
            interception_id: id,
            provider_response_id: null,
            created_at: started,
            input_tokens: 1,
            output_tokens: 1,
            cache_read_input_tokens: 0,
            cache_write_input_tokens: 0,
            cost_usd: null,
            metadata: {},
          },
        },
        { kind: 'tool_usage', doc: toolUsageRecord(doc) },
        {
          kind: 'model_thought',
          doc: { _id: randomUUID(), interception_id: id, content: 'x', source: 's', created_at: started },
        },
        {
          kind: 'annotation',
          doc: {
            _id: randomUUID(),
            interception_id: id,
            client_session_id: null,
            initiator_id: initiator,
            repo: 'github.com/acme/app',
            branch: null,
            issue_urls: [],
            pr_urls: [],
            note: null,
            created_at: started,
          },
        },
      );
    }
    await store.records.write(ops);
    return ids;
  }

  const remaining = async (ids: string[]) =>
    (await Promise.all(ids.map((id) => store.audit.get({}, id)))).filter((d) => d !== null).length;

  it('deletes old interceptions with all their children, in batches, and spares recent data', async () => {
    initiator = randomUUID();
    const old = await seed(23, 3 * HOUR);
    const recent = await seed(5, 10 * 60_000);
    const run = await purge(store, { holder: 'a', cutoff: new Date(Date.now() - HOUR), batchSize: 5, pauseMs: 0 });
    expect(run).toMatchObject({ ran: true, interceptions: 23, batches: 5 });
    for (const name of CHILD_COLLECTIONS) expect(run.children[name], name).toBe(23);
    // Each old interception's own work context went too (nothing was added to it since).
    expect(run.children[COLLECTIONS.workContexts]).toBe(23);
    expect((await store.audit.get({}, recent[0]!))?.work?.repo).toBe('github.com/acme/app');
    expect(await remaining(old)).toBe(0);
    expect(await remaining(recent)).toBe(5);
    expect((await store.audit.get({}, recent[0]!))?.tool_usages).toHaveLength(1);
    const again = await purge(store, { holder: 'a', cutoff: new Date(Date.now() - HOUR) });
    expect(again).toMatchObject({ ran: true, interceptions: 0, batches: 0 });
    // The purged steps became the chain's anchor: what is kept still verifies, from there.
    const verified = await verifyAll(store.chain);
    expect(verified.problem).toBeNull();
    expect(verified.chains.map((c) => c.anchor_seq)).toEqual([23 * 6]); // six records each, the annotation too
    expect(verified.checked).toBe(5 * 6);
  });

  it('lets only one of two racing purgers run, and deletes everything once', async () => {
    initiator = randomUUID();
    const old = await seed(40, 2 * HOUR);
    const cutoff = new Date(Date.now() - HOUR);
    // Small batches with pauses keep the first run holding the lease while the second tries.
    const runs = await Promise.all(
      ['replica-1', 'replica-2'].map((holder) => purge(store, { holder, cutoff, batchSize: 4, pauseMs: 30 })),
    );
    expect(runs.filter((r) => r.ran)).toHaveLength(1);
    expect(runs.map((r) => r.interceptions).sort()).toEqual([0, 40]);
    expect(await remaining(old)).toBe(0);
    expect((await verifyAll(store.chain)).problem).toBeNull();
    // The winner released the lease: the next run, by anyone, may start at once.
    expect(await store.leases.acquire(RETENTION_LEASE, 'replica-3', 60_000)).toBe(true);
    await store.leases.release(RETENTION_LEASE, 'replica-3');
  });

  it('never purges while another holder has a live lease', async () => {
    initiator = randomUUID();
    expect(await store.leases.acquire(RETENTION_LEASE, 'live', 60_000)).toBe(true);
    const ids = await seed(3, 2 * HOUR);
    const blocked = await purge(store, { holder: 'other', cutoff: new Date(Date.now() - HOUR) });
    expect(blocked).toMatchObject({ ran: false, interceptions: 0 });
    expect(await remaining(ids)).toBe(3);
    await store.leases.release(RETENTION_LEASE, 'live');
    expect((await purge(store, { holder: 'other', cutoff: new Date(Date.now() - HOUR) })).interceptions).toBe(3);
  });

  it('purges at start-up from the configured period, counts it and logs how much', async () => {
    initiator = randomUUID();
    const old = await seed(7, 2 * HOUR);
    const recent = await seed(2, 60_000);
    const bridge = await startTestBridge(store, { retention: '1h' });
    try {
      const metrics = bridge.ctx.metrics;
      await waitUntil(async () => (await counted(metrics.retentionRuns)) >= 1);
      expect(await counted(metrics.retentionPurged, { collection: COLLECTIONS.interceptions })).toBe(7);
      // Each interception, its five children, and the work context its annotation made.
      expect(await counted(metrics.retentionPurged)).toBe(7 + 7 * 5 + 7);
      expect(await remaining(old)).toBe(0);
      expect(await remaining(recent)).toBe(2);
      const line = bridge.logs.lines.map((l) => JSON.parse(l)).find((l) => l.component === 'retention');
      expect(line).toMatchObject({ interceptions: 7, msg: expect.stringMatching(/retention purge/) });
    } finally {
      await bridge.close();
    }
  });

  it('keeps everything with retention 0', async () => {
    initiator = randomUUID();
    const ids = await seed(4, 400 * 24 * HOUR);
    const bridge = await startTestBridge(store, { retention: 0 });
    try {
      await new Promise((r) => setTimeout(r, 200));
      expect(await counted(bridge.ctx.metrics.retentionRuns)).toBe(0);
      expect(await remaining(ids)).toBe(4);
    } finally {
      await bridge.close();
    }
  });
});

it('reads the documented retention units', () => {
  expect(parseDuration('60d')).toBe(60 * 24 * HOUR);
  expect(parseDuration('1440h')).toBe(60 * 24 * HOUR);
  expect(parseDuration('30m')).toBe(30 * 60_000);
  expect(parseDuration(0)).toBe(0);
});
