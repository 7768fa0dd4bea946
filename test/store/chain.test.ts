/**
 * The tamper-evident chain on both stores (README "Tamper evidence"): records written as the
 * recorder writes them, then changed, removed or inserted behind the bridge's back — straight
 * in the SQLite file or the MongoDB collection — and verify names the record.
 */
import { createHash, randomUUID } from 'node:crypto';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import { verifyAll, verifyChains } from '../../src/audit/verify.ts';
import { embeddedStorePath } from '../../src/paths.ts';
import { ChainCursor } from '../../src/store/chain.ts';
import { encodeOp } from '../../src/store/codec.ts';
import { openMongoStore } from '../../src/store/mongo/store.ts';
import type { InterceptionRecord, RecordOp } from '../../src/store/records.ts';
import { decode, rowShape, toRow } from '../../src/store/sqlite/rows.ts';
import { openEmbeddedStore } from '../../src/store/sqlite/store.ts';
import type { CollectionName } from '../../src/store/store.ts';
import { mongoUri, STORE_KINDS, type StoreKind, type TestStore, testStore } from '../helpers/db.ts';
import { interceptionRecord, promptRecord, toolUsageRecord } from '../helpers/records.ts';

type Doc = Record<string, unknown> & { _id: string };

/** Changes made the way someone with access to the database would make them. */
interface Tamper {
  set(collection: CollectionName, id: string, field: string, value: unknown): Promise<void>;
  remove(collection: CollectionName, id: string): Promise<void>;
  insert(collection: CollectionName, doc: Doc): Promise<void>;
  get(collection: CollectionName, id: string): Promise<Doc>;
}

function tamperOf(kind: StoreKind, store: TestStore): Tamper {
  if (kind === 'mongodb') {
    const db = store.db!;
    return {
      async set(collection, id, field, value) {
        await db.collection<Doc>(collection).updateOne({ _id: id }, { $set: { [field]: value } });
      },
      async remove(collection, id) {
        await db.collection<Doc>(collection).deleteOne({ _id: id });
      },
      async insert(collection, doc) {
        await db.collection<Doc>(collection).insertOne(doc);
      },
      async get(collection, id) {
        return (await db.collection<Doc>(collection).findOne({ _id: id })) as Doc;
      },
    };
  }
  const file = embeddedStorePath(store.dataDir!);
  const open = <T>(work: (db: DatabaseSync) => T): T => {
    const db = new DatabaseSync(file, { timeout: 10_000 });
    try {
      return work(db);
    } finally {
      db.close();
    }
  };
  return {
    async set(collection, id, field, value) {
      open((db) =>
        db
          .prepare(`UPDATE ${collection} SET doc = json_set(doc, ?, ?) WHERE id = ?`)
          .run(`$.${field}`, value as string, id),
      );
    },
    async remove(collection, id) {
      open((db) => db.prepare(`DELETE FROM ${collection} WHERE id = ?`).run(id));
    },
    async insert(collection, doc) {
      const { columns, placeholders } = rowShape(collection);
      open((db) =>
        db.prepare(`INSERT INTO ${collection} (${columns}) VALUES (${placeholders})`).run(...toRow(collection, doc)),
      );
    },
    async get(collection, id) {
      const row = open((db) => db.prepare(`SELECT doc FROM ${collection} WHERE id = ?`).get(id)) as { doc: string };
      return decode<Doc>(collection, row.doc);
    },
  };
}

const T0 = Date.now() - 60_000;
const at = (seconds: number) => new Date(T0 + seconds * 1_000);

/**
 * Three interceptions as the recorder writes them: one merged with its end, one written while
 * running and ended in a later batch (it moves to a new step), one with a tool call.
 */
function session() {
  const merged = interceptionRecord({ started_at: at(1), ended_at: at(2) });
  const running = interceptionRecord({
    started_at: at(3),
    ended_at: null,
    status: null,
    metadata: { streaming: true },
  });
  const third = interceptionRecord({ started_at: at(5), ended_at: at(6) });
  const prompt = promptRecord(merged, 'fix the build');
  const runningPrompt = promptRecord(running, 'explain the failure');
  const tool = toolUsageRecord(third, { tool: 'Read', input: '{"path":"README.md"}' });
  const batches: RecordOp[][] = [
    [
      { kind: 'interception', doc: merged },
      { kind: 'user_prompt', doc: prompt },
      { kind: 'interception', doc: running },
      { kind: 'user_prompt', doc: runningPrompt },
    ],
    [
      { kind: 'interception', doc: third },
      { kind: 'tool_usage', doc: tool },
      {
        kind: 'interception_ended',
        id: running._id,
        ended_at: at(4),
        status: 'completed',
        cost_usd: 0.25,
        totals: {
          input_tokens: 1,
          output_tokens: 2,
          cache_read_input_tokens: 0,
          cache_write_input_tokens: 0,
          tool_calls: 0,
        },
        metadata: { iterations: 1 },
      },
    ],
  ];
  return { merged, running, third, prompt, runningPrompt, tool, batches };
}

describe.each(STORE_KINDS)('%s store: the chain', (kind) => {
  let store: TestStore | undefined;
  afterEach(async () => {
    await store?.close();
    store = undefined;
  });

  async function recorded(key: string) {
    store = await testStore(kind, `chain-${kind}-${key}`);
    const s = session();
    for (const batch of s.batches) await store.records.write(batch);
    return { ...s, store, tamper: tamperOf(kind, store) };
  }

  it('untouched: every record at its step, verified; a replayed journal neither forks nor doubles it', async () => {
    const s = await recorded('untouched');
    const first = await verifyAll(s.store.chain);
    expect(first.problem).toBeNull();
    // 6 inserts, and the running interception's end: 7 steps, one chain.
    expect(first.checked).toBe(7);
    expect(first.chains).toHaveLength(1);
    expect(first.chains[0]!.head.seq).toBe(7);
    // The journal replayed: as objects, and as the lines the embedded store takes.
    for (const batch of s.batches) await s.store.records.write(batch);
    if (s.store.records.writeLines)
      for (const batch of s.batches) await s.store.records.writeLines(batch.map(encodeOp));
    const again = await verifyAll(s.store.chain);
    expect(again.problem).toBeNull();
    expect(again.chains[0]!.head).toEqual(first.chains[0]!.head);

    // What a record carries: its chain, its seq, and a hash over the previous step's hash and
    // itself. (MongoDB writes a batch collection by collection, so its seqs follow that order.)
    const prompt = await s.tamper.get('user_prompts', s.prompt._id);
    expect(prompt).toMatchObject({ chain: first.chains[0]!.chain, seq: kind === 'embedded' ? 2 : 3 });
    const [before] = await s.store.chain.steps(prompt.chain as string, (prompt.seq as number) - 2, 1);
    const priors = (before?.record?.chain_prior ?? []) as Array<{ seq: number; hash: string }>;
    const previous = before?.kind === 'record' ? before.record.hash : priors.find((p) => p.seq === before?.seq)?.hash;
    // The definition, spelled out: SHA-256 of [previous hash, chain, seq, collection, content],
    // the content being the record's other fields as canonical JSON (names sorted, dates RFC 3339).
    const content = `{"_id":"${s.prompt._id}","created_at":"${s.prompt.created_at.toISOString()}","interception_id":"${s.merged._id}","prompt":"fix the build","provider_response_id":null}`;
    const text = `["${previous}","${prompt.chain}",${prompt.seq},"user_prompts",${content}]`;
    expect(prompt.hash).toBe(createHash('sha256').update(text).digest('hex'));
    // The interception that ended later left its first step for a later one, and says so.
    const running = await s.tamper.get('interceptions', s.running._id);
    expect(running.seq).toBe(7);
    expect(running.chain_prior).toEqual([
      { chain: prompt.chain, seq: kind === 'embedded' ? 3 : 2, hash: expect.any(String) },
    ]);
  });

  it("a client tool's result and an annotation are steps too: a result edited later is named", async () => {
    const s = await recorded('results');
    // The tool call of the third interception was the client's; a later request carries its result.
    const client = toolUsageRecord(s.third, {
      tool: 'Bash',
      input: '{"command":"ls"}',
      tool_call_id: 'call_client',
      initiator_id: s.third.initiator_id,
      created_at: at(5.5),
    });
    await s.store.records.write([{ kind: 'tool_usage', doc: client }]);
    const result = {
      _id: randomUUID(),
      interception_id: s.merged._id,
      initiator_id: s.third.initiator_id,
      tool_call_id: client.tool_call_id,
      output: 'README.md',
      is_error: false,
      created_at: at(7),
    };
    const annotation = {
      _id: randomUUID(),
      interception_id: s.third._id,
      client_session_id: null,
      initiator_id: s.third.initiator_id,
      repo: 'github.com/acme/app',
      branch: 'main',
      issue_urls: [],
      pr_urls: [],
      note: null,
      created_at: at(8),
    };
    await s.store.records.write([
      { kind: 'tool_result', doc: result },
      { kind: 'annotation', doc: annotation },
    ]);
    const ok = await verifyAll(s.store.chain);
    expect(ok.problem).toBeNull();
    // 7 steps before; the call inserted, then moved to a new step with its result; the annotation.
    expect(ok.chains[0]!.head.seq).toBe(10);
    expect(await s.tamper.get('tool_usages', client._id)).toMatchObject({
      output: 'README.md',
      chain_prior: [expect.any(Object)],
    });
    // Replayed: nothing moves.
    await s.store.records.write([{ kind: 'tool_result', doc: result }]);
    expect((await verifyAll(s.store.chain)).chains[0]!.head.seq).toBe(10);
    await s.tamper.set('tool_usages', client._id, 'output', 'nothing to see here');
    expect((await verifyAll(s.store.chain)).problem).toMatchObject({
      kind: 'changed',
      collection: 'tool_usages',
      id: client._id,
    });
  });

  it('a prompt edited in the database: verify names the record as changed', async () => {
    const s = await recorded('edited');
    await s.tamper.set('user_prompts', s.runningPrompt._id, 'prompt', 'nothing to see here');
    const result = await verifyAll(s.store.chain);
    expect(result.problem).toMatchObject({
      kind: 'changed',
      collection: 'user_prompts',
      id: s.runningPrompt._id,
      seq: 4,
    });
    expect(result.checked).toBe(3);
    expect(result.problem!.detail).toContain('no longer matches its hash');
  });

  it('a record deleted: verify names the missing step and the record before it', async () => {
    const s = await recorded('deleted');
    await s.tamper.remove('tool_usages', s.tool._id);
    const result = await verifyAll(s.store.chain);
    expect(result.problem).toMatchObject({ kind: 'removed', seq: 6 });
    expect(result.problem!.detail).toContain(`interceptions ${s.third._id} (step 5)`);
  });

  it('the last record deleted, or a changed record deleted: still named', async () => {
    const s = await recorded('deleted-last');
    // Step 7 is the running interception's end; deleting it removes the step it left too.
    const left = ((await s.tamper.get('interceptions', s.running._id)).chain_prior as Array<{ seq: number }>)[0]!.seq;
    await s.tamper.remove('interceptions', s.running._id);
    const result = await verifyAll(s.store.chain);
    expect(result.problem).toMatchObject({ kind: 'removed', seq: left });
    expect(result.problem).not.toHaveProperty('id');
    expect(result.problem!.detail).toContain(`left by interceptions ${s.running._id}, which is gone`);
  });

  it('a record inserted: without seq and hash, at a step another holds, or in a chain nobody started', async () => {
    const s = await recorded('inserted');
    const fake = promptRecord(s.third, 'an innocent prompt', { created_at: new Date() });
    await s.tamper.insert('user_prompts', fake as unknown as Doc);
    expect((await verifyAll(s.store.chain)).problem).toMatchObject({ kind: 'inserted', id: fake._id });
    await s.tamper.remove('user_prompts', fake._id);

    const prompt = await s.tamper.get('user_prompts', s.prompt._id);
    const twin = { ...fake, _id: randomUUID(), chain: prompt.chain, seq: prompt.seq, hash: prompt.hash };
    await s.tamper.insert('user_prompts', twin as unknown as Doc);
    expect((await verifyAll(s.store.chain)).problem).toMatchObject({ kind: 'inserted', id: twin._id, seq: prompt.seq });
    await s.tamper.remove('user_prompts', twin._id);

    const stranger = { ...fake, _id: randomUUID(), chain: 'ffffffff-0000-4000-8000-000000000000', seq: 1, hash: 'x' };
    await s.tamper.insert('user_prompts', stranger as unknown as Doc);
    expect((await verifyAll(s.store.chain)).problem).toMatchObject({ kind: 'inserted', id: stranger._id });
    await s.tamper.remove('user_prompts', stranger._id);
    expect((await verifyAll(s.store.chain)).problem).toBeNull();
  });

  it('a record chained on past the head: an insertion on the embedded store (its head moves with every write), not on MongoDB (its head follows its records)', async () => {
    const s = await recorded('past-head');
    const [chain] = (await verifyAll(s.store.chain)).chains;
    const cursor = new ChainCursor(chain!.chain, chain!.head.seq, chain!.head.hash);
    const forged = cursor.stamp('interceptions', interceptionRecord({ started_at: at(7), ended_at: at(8) }));
    await s.tamper.insert('interceptions', forged as unknown as Doc);
    const after = await verifyAll(s.store.chain);
    if (kind === 'embedded') {
      expect(after.problem).toMatchObject({ kind: 'inserted', id: forged._id, seq: chain!.head.seq + 1 });
      expect(after.problem?.detail).toMatch(/past the head/);
    } else {
      // What a crash between writing a batch and moving the head leaves: only the head kept outside tells.
      expect(after.problem).toBeNull();
      expect(after.checked).toBe(chain!.head.seq + 1);
    }
  });

  it('after a retention purge the chain verifies from its anchor; a removal after it is still found', async () => {
    const s = await recorded('purged');
    // The first two interceptions and their children go; the third and its tool call stay.
    const run = await s.store.records.purge(at(4.5), 100);
    expect(run.interceptions).toBe(2);
    const result = await verifyAll(s.store.chain);
    expect(result.problem).toBeNull();
    expect(result.chains[0]!.anchor_seq).toBe(4);
    expect(result.checked).toBe(2); // steps 5 and 6; 7 (the running one's end) was purged past the anchor
    await s.tamper.remove('tool_usages', s.tool._id);
    expect((await verifyAll(s.store.chain)).problem).toMatchObject({ kind: 'removed', seq: 6 });
  });

  it('a purge that leaves younger records between purged ones keeps the chain whole', async () => {
    store = await testStore(kind, `chain-${kind}-interleaved`);
    const old = interceptionRecord({ started_at: at(1), ended_at: null, status: null });
    const young = interceptionRecord({ started_at: at(10), ended_at: at(11) });
    await store.records.write([{ kind: 'interception', doc: old }]);
    await store.records.write([
      { kind: 'interception', doc: young },
      { kind: 'user_prompt', doc: promptRecord(young, 'y') },
    ]);
    await store.records.write([{ kind: 'user_prompt', doc: promptRecord(old, 'late child', { created_at: at(12) }) }]);
    await store.records.purge(at(5), 100); // steps 1 and 4 go, 2 and 3 stay
    const result = await verifyAll(store.chain);
    expect(result.problem).toBeNull();
    expect(result.checked).toBe(2);
    await store.records.purge(at(20), 100);
    expect(await verifyAll(store.chain)).toMatchObject({ problem: null, checked: 0 });
    expect((await store.chain.chains())[0]!.anchor).toMatchObject({ seq: 4, gaps: [] });
  });

  it('pages: bounded work per call, going on from where the last one stopped', async () => {
    const s = await recorded('paged');
    const seen: number[] = [];
    let page = await verifyChains(s.store.chain, { limit: 3 });
    for (;;) {
      seen.push(page.checked);
      expect(page.problem).toBeNull();
      if (!page.next) break;
      page = await verifyChains(s.store.chain, { limit: 3, after: page.next });
    }
    expect(seen).toEqual([3, 3, 1]);
    await s.tamper.set('user_prompts', s.prompt._id, 'prompt', 'rewritten');
    expect((await verifyChains(s.store.chain, { limit: 3 })).problem).toMatchObject({
      kind: 'changed',
      id: s.prompt._id,
    });
  });

  it('--since: only the steps from the first interception started since then', async () => {
    const s = await recorded('since');
    await s.tamper.set('user_prompts', s.prompt._id, 'prompt', 'rewritten'); // step 2, before `since`
    const result = await verifyAll(s.store.chain, { since: at(4.5) });
    expect(result.problem).toBeNull();
    expect(result.checked).toBe(3); // steps 5, 6, 7
    expect((await verifyAll(s.store.chain, { since: at(0) })).problem).toMatchObject({
      kind: 'changed',
      id: s.prompt._id,
    });
  });

  it('two writers racing with the same records (one journal shipped twice) leave chains that verify', async () => {
    store = await testStore(kind, `chain-${kind}-race`);
    const other =
      kind === 'mongodb'
        ? await openMongoStore(mongoUri(), store.db!.databaseName)
        : openEmbeddedStore(store.dataDir!, 'inline');
    try {
      const batches = Array.from({ length: 6 }, (_, i) => {
        const doc = interceptionRecord({ started_at: at(i) });
        return [
          { kind: 'interception', doc },
          { kind: 'user_prompt', doc: promptRecord(doc, `p${i}`) },
          { kind: 'tool_usage', doc: toolUsageRecord(doc) },
        ] as RecordOp[];
      });
      await Promise.all([
        (async () => {
          for (const batch of batches) await store!.records.write(batch);
        })(),
        (async () => {
          for (const batch of batches) await other.records.write(batch);
        })(),
      ]);
      const result = await verifyAll(store.chain);
      expect(result.problem).toBeNull();
      expect(result.checked).toBe(18); // every record once, in whichever chain wrote it first
      expect(await store.audit.count({})).toBe(6);
    } finally {
      await other.close();
    }
  });

  it('a record whose end fields differ only in undefined members and key order still verifies', async () => {
    store = await testStore(kind, `chain-${kind}-shape`);
    const doc: InterceptionRecord = {
      ...interceptionRecord({ started_at: at(1) }),
      metadata: { z: 1, a: { y: [1, 'two', null], b: undefined }, text: 'lone \ud800 surrogate' },
    };
    await store.records.write([{ kind: 'interception', doc }]);
    expect((await verifyAll(store.chain)).problem).toBeNull();
  });
});
