/**
 * Client tool results and work context on both stores (README "What is recorded", "Work
 * context"): a result updates its call by (initiator, tool_call_id) through an index; annotations
 * add up to their session's work context, which the audit filters and usage groups by.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedStorePath } from '../../src/paths.ts';
import { withoutChain } from '../../src/store/chain.ts';
import { encodeOp } from '../../src/store/codec.ts';
import { present } from '../../src/store/present.ts';
import type {
  AnnotationRecord,
  InterceptionRecord,
  RecordOp,
  ToolResultRecord,
  ToolUsageRecord,
} from '../../src/store/records.ts';
import { openEmbeddedStore } from '../../src/store/sqlite/store.ts';
import { CLIENT_TOOL_CALL } from '../../src/store/sqlite/tool-calls.ts';
import type { InterceptionFilter, UserDoc } from '../../src/store/store.ts';
import { STORE_KINDS, type TestStore, testStore } from '../helpers/db.ts';
import { interceptionRecord, toolUsageRecord } from '../helpers/records.ts';

const T0 = Date.parse('2026-05-04T10:00:00Z');
const at = (minutes: number) => new Date(T0 + minutes * 60_000);

const user = (username: string): UserDoc => ({
  _id: randomUUID(),
  username,
  name: username,
  role: 'member',
  created_at: at(0),
  disabled_at: null,
  deleted_at: null,
  budget: null,
  denied_servers: [],
});

const totals = (tools: string[] = []) => ({
  input_tokens: 10,
  output_tokens: 5,
  cache_read_input_tokens: 0,
  cache_write_input_tokens: 0,
  tool_calls: tools.length,
  ...(tools.length ? { tools } : {}),
});

function started(initiator: string, minute: number, fields: Partial<InterceptionRecord> = {}): InterceptionRecord {
  return interceptionRecord({
    initiator_id: initiator,
    started_at: at(minute),
    ended_at: at(minute + 0.5),
    cost_usd: 1,
    totals: totals(),
    ...fields,
  });
}

/** A client call of `i`, as the observer records it. */
function clientCall(i: InterceptionRecord, id: string, minute: number, fields: Partial<ToolUsageRecord> = {}) {
  return toolUsageRecord(i, {
    initiator_id: i.initiator_id,
    tool_call_id: id,
    tool: 'Read',
    input: '{"file_path":"note.txt"}',
    is_error: null,
    result_at: null,
    result_interception_id: null,
    created_at: at(minute),
    ...fields,
  });
}

function result(i: InterceptionRecord, id: string, minute: number, fields: Partial<ToolResultRecord> = {}) {
  const doc: ToolResultRecord = {
    _id: randomUUID(),
    interception_id: i._id,
    initiator_id: i.initiator_id,
    tool_call_id: id,
    output: 'the note says 42',
    is_error: false,
    created_at: at(minute),
    ...fields,
  };
  return { kind: 'tool_result' as const, doc };
}

function annotation(fields: Partial<AnnotationRecord> & Pick<AnnotationRecord, 'initiator_id'>): AnnotationRecord {
  return {
    _id: randomUUID(),
    interception_id: null,
    client_session_id: null,
    repo: null,
    branch: null,
    issue_urls: [],
    pr_urls: [],
    note: null,
    created_at: at(0),
    ...fields,
  };
}

describe.each(STORE_KINDS)('%s store', (kind) => {
  let store: TestStore;
  const alice = user('alice');
  const bob = user('bob');
  beforeAll(async () => {
    store = await testStore(kind, `results-work-${kind}`);
    await store.identity.createUser(alice);
    await store.identity.createUser(bob);
  });
  afterAll(() => store?.close());

  // As written: without their places in the tamper-evident chain (test/store/chain.test.ts checks those).
  const toolsOf = async (i: InterceptionRecord) =>
    ((await store.audit.get({}, i._id))?.tool_usages ?? []).map(withoutChain);

  describe('client tool results', () => {
    it("give the user's own call its output, and never another user's call with the same id", async () => {
      const asked = started(alice._id, 1);
      const bobs = started(bob._id, 1.2);
      const answered = started(alice._id, 2);
      const call = clientCall(asked, 'toolu_shared', 1.1);
      const bobCall = clientCall(bobs, 'toolu_shared', 1.3);
      await store.records.write([
        { kind: 'interception', doc: asked },
        { kind: 'tool_usage', doc: call },
        { kind: 'interception', doc: bobs },
        { kind: 'tool_usage', doc: bobCall },
      ]);
      const op = result(answered, 'toolu_shared', 2, { is_error: true, output: 'file not found' });
      await store.records.write([{ kind: 'interception', doc: answered }, op]);

      expect(await toolsOf(asked)).toEqual([
        {
          ...call,
          output: 'file not found',
          is_error: true,
          result_at: at(2),
          result_interception_id: answered._id,
        },
      ]);
      expect(await toolsOf(bobs)).toEqual([bobCall]);
      expect(await toolsOf(answered)).toEqual([]);

      // Applied again (a replayed journal), or resent with other text (a client retrying): the first stays.
      await store.records.write([op]);
      await store.records.write([result(answered, 'toolu_shared', 3, { output: 'changed', is_error: false })]);
      expect((await toolsOf(asked))[0]).toMatchObject({ output: 'file not found', is_error: true, result_at: at(2) });
    });

    it('answer the newest call with that id made before the result, in the same batch too, as lines too', async () => {
      const i = started(alice._id, 10);
      const older = clientCall(i, 'call_reused', 10.1);
      const newer = clientCall(i, 'call_reused', 10.2);
      const ops: RecordOp[] = [
        { kind: 'interception', doc: i },
        { kind: 'tool_usage', doc: older },
        { kind: 'tool_usage', doc: newer },
        result(i, 'call_reused', 10.3, { is_error: null, output: 'ok' }),
      ];
      if (store.records.writeLines) await store.records.writeLines(ops.map(encodeOp));
      else await store.records.write(ops);
      const [first, second] = await toolsOf(i);
      expect(first).toEqual(older);
      expect(second).toMatchObject({ _id: newer._id, output: 'ok', is_error: null, result_at: at(10.3) });
      expect(await store.audit.clientToolCall(alice._id, 'call_reused')).toMatchObject({ _id: newer._id });
      expect(await store.audit.clientToolCall(alice._id, 'call_reused', at(10.15))).toMatchObject({ _id: older._id });
      expect(await store.audit.clientToolCall(bob._id, 'call_reused')).toBeNull();
    });

    it('leave injected calls and unknown ids alone', async () => {
      const i = started(alice._id, 20);
      const injected = toolUsageRecord(i, {
        initiator_id: alice._id,
        tool_call_id: 'toolu_injected',
        injected: true,
        server_url: 'http://mcp.local/mcp',
        output: 'the bridge ran it',
        duration_ms: 5,
        created_at: at(20.1),
      });
      await store.records.write([
        { kind: 'interception', doc: i },
        { kind: 'tool_usage', doc: injected },
      ]);
      await store.records.write([result(i, 'toolu_injected', 21), result(i, 'toolu_nobody_made', 21)]);
      expect(await toolsOf(i)).toEqual([injected]);
    });

    it('keep what was cut of the call and of the result', async () => {
      const i = started(alice._id, 30);
      const call = clientCall(i, 'call_big', 30.1, { truncated: true, original_bytes: { input: 90_000 } });
      await store.records.write([
        { kind: 'interception', doc: i },
        { kind: 'tool_usage', doc: call },
        result(i, 'call_big', 31, { output: 'x'.repeat(10), truncated: true, original_bytes: { output: 80_000 } }),
      ]);
      expect((await toolsOf(i))[0]).toMatchObject({
        truncated: true,
        original_bytes: { input: 90_000, output: 80_000 },
        output: 'x'.repeat(10),
      });
    });

    it('are found through an index, never a scan', async () => {
      if (kind === 'embedded') {
        const db = new DatabaseSync(embeddedStorePath(store.dataDir as string), { readOnly: true });
        try {
          const plan = db
            .prepare(`EXPLAIN QUERY PLAN ${CLIENT_TOOL_CALL}`)
            .all('u', 'call', 0)
            .map((row) => (row as { detail: string }).detail);
          expect(plan.join('\n')).toMatch(
            /SEARCH tool_usages USING INDEX tool_usages_call \(initiator_id=\? AND tool_call_id=\? AND created_at<\?\)/,
          );
          expect(plan.join('\n')).not.toMatch(/SCAN|TEMP B-TREE/);
        } finally {
          db.close();
        }
      } else {
        const indexes = await store.db!.collection('tool_usages').listIndexes().toArray();
        expect(indexes.find((ix) => ix.name === 'initiator_call')?.key).toEqual({
          initiator_id: 1,
          tool_call_id: 1,
          created_at: -1,
        });
      }
    });

    it('show in the API as the call, its result and when it came', async () => {
      const asked = started(alice._id, 40);
      const call = clientCall(asked, 'call_api', 40.1);
      const answered = started(alice._id, 41);
      await store.records.write([
        { kind: 'interception', doc: asked },
        { kind: 'tool_usage', doc: call },
        { kind: 'interception', doc: answered },
        result(answered, 'call_api', 41),
      ]);
      const shown = present((await store.audit.get({}, asked._id))!).tool_usages[0]!;
      expect(shown).toMatchObject({
        id: call._id,
        tool: 'Read',
        output: 'the note says 42',
        is_error: false,
        result_at: at(41).toISOString(),
        result_interception_id: answered._id,
      });
      expect(shown).not.toHaveProperty('initiator_id');
      const parsed = JSON.parse(await store.audit.listJson({ initiator_id: alice._id }, { limit: 100 }));
      expect(parsed.find((r: any) => r.id === asked._id).tool_usages[0]).toEqual(shown);
    });
  });

  describe('work context', () => {
    const rows: Record<string, InterceptionRecord> = {};
    const PR = 'https://github.com/acme/app/pull/117';
    const ISSUE = 'https://github.com/acme/app/issues/9';
    const scope: InterceptionFilter = { started_after: at(99), started_before: at(200) };
    beforeAll(async () => {
      const add = (name: string, doc: InterceptionRecord) => {
        rows[name] = doc;
        return { kind: 'interception' as const, doc };
      };
      const claude = { client: 'Claude Code', provider: 'anthropic' as const, provider_name: 'anthropic' };
      const ops: RecordOp[] = [
        add('first', started(alice._id, 100, { ...claude, client_session_id: 'sess-1', model: 'claude-haiku-4-5' })),
        add('second', started(alice._id, 101, { ...claude, client_session_id: 'sess-1', totals: totals(['Read']) })),
        add('otherSession', started(alice._id, 102, { ...claude, client_session_id: 'sess-2' })),
        add('noSession', started(alice._id, 103)),
        // Another user's interception in a session of the same id: never alice's context.
        add('bobs', started(bob._id, 104, { ...claude, client_session_id: 'sess-1', totals: totals(['Bash']) })),
        add('plain', started(bob._id, 105)),
      ];
      ops.push(
        {
          kind: 'tool_usage',
          doc: clientCall(rows.second!, 'call_read', 101.1),
        },
        { kind: 'tool_usage', doc: clientCall(rows.bobs!, 'call_bash', 104.1, { tool: 'Bash' }) },
      );
      const later = annotation({
        initiator_id: alice._id,
        interception_id: rows.second!._id,
        client_session_id: 'sess-1',
        branch: 'feature/x',
        issue_urls: [ISSUE],
        note: 'fixing the login',
        created_at: at(101.2),
      });
      const earlier = annotation({
        initiator_id: alice._id,
        interception_id: rows.first!._id,
        client_session_id: 'sess-1',
        repo: 'github.com/acme/app',
        branch: 'main',
        pr_urls: [PR],
        created_at: at(100.2),
      });
      // The later one is written first (another replica's journal): the earlier never overwrites its branch.
      ops.push({ kind: 'annotation', doc: later }, { kind: 'annotation', doc: earlier });
      ops.push({
        kind: 'annotation',
        doc: annotation({
          initiator_id: alice._id,
          interception_id: rows.otherSession!._id,
          client_session_id: 'sess-2',
          repo: 'github.com/acme/lib',
          created_at: at(102.2),
        }),
      });
      ops.push({
        kind: 'annotation',
        doc: annotation({
          initiator_id: alice._id,
          interception_id: rows.noSession!._id,
          repo: 'github.com/acme/lib',
          branch: 'hotfix',
          created_at: at(103.2),
        }),
      });
      await store.records.write(ops);
      await store.records.write(ops); // replayed: nothing changes
    });

    const ids = async (filter: InterceptionFilter) =>
      (await store.audit.list({ ...scope, ...filter }, { limit: 100 })).map((d) => d.interception._id).sort();
    const names = (...keys: string[]) => keys.map((k) => rows[k]!._id).sort();

    it("is the session's annotations added up, on each of its interceptions and only the user's", async () => {
      const first = await store.audit.get({}, rows.first!._id);
      expect(first?.work).toMatchObject({
        repo: 'github.com/acme/app',
        branch: 'feature/x',
        pr_urls: [PR],
        issue_urls: [ISSUE],
        updated_at: at(101.2),
      });
      expect(first?.annotations.map((a) => a.branch)).toEqual(['main']);
      const second = await store.audit.get({}, rows.second!._id);
      expect(second?.work?.repo).toBe('github.com/acme/app');
      expect(second?.annotations.map((a) => a.note)).toEqual(['fixing the login']);
      expect((await store.audit.get({}, rows.bobs!._id))?.work).toBeNull();
      expect((await store.audit.get({}, rows.noSession!._id))?.work).toMatchObject({ branch: 'hotfix' });
      expect(present((await store.audit.get({}, rows.first!._id))!).work).toEqual({
        repo: 'github.com/acme/app',
        branch: 'feature/x',
        pr_urls: [PR],
        issue_urls: [ISSUE],
        updated_at: at(101.2).toISOString(),
      });
    });

    it('answers q repo:, branch:, pr: and issue: (a URL, or a number), and tool:', async () => {
      expect(await ids({ repo: 'github.com/acme/app' })).toEqual(names('first', 'second'));
      expect(await ids({ repo: 'github.com/acme/lib' })).toEqual(names('otherSession', 'noSession'));
      expect(await ids({ repo: 'github.com/acme/lib', initiator_id: bob._id })).toEqual([]);
      expect(await ids({ branch: 'hotfix' })).toEqual(names('noSession'));
      expect(await ids({ branch: 'main' })).toEqual([]); // the session's branch is its latest
      expect(await ids({ pr: PR })).toEqual(names('first', 'second'));
      expect(await ids({ pr: '117' })).toEqual(names('first', 'second'));
      expect(await ids({ pr: '#117' })).toEqual(names('first', 'second'));
      expect(await ids({ pr: '11' })).toEqual([]);
      expect(await ids({ issue: '9', repo: 'github.com/acme/app' })).toEqual(names('first', 'second'));
      expect(await ids({ issue: ISSUE, client: 'Codex' })).toEqual([]);
      expect(await store.audit.count({ ...scope, repo: 'github.com/acme/app' })).toBe(2);
      expect(await ids({ tool: 'Read' })).toEqual(names('second'));
      expect(await ids({ tool: 'Bash' })).toEqual(names('bobs'));
      expect(await store.audit.count({ ...scope, tool: 'Read' })).toBe(1);
    });

    it('groups usage by repo, the rest under no repo', async () => {
      const groups = await store.audit.usage(scope, ['repo']);
      const byRepo = Object.fromEntries(groups.map((g) => [g.key.repo, g.interceptions]));
      expect(byRepo).toEqual({ 'github.com/acme/app': 2, 'github.com/acme/lib': 2, '': 2 });
      const withInitiator = await store.audit.usage(scope, ['repo', 'initiator']);
      expect(
        withInitiator
          .map((g) => `${g.key.repo}/${g.key.initiator === alice._id ? 'alice' : 'bob'}:${g.interceptions}`)
          .sort(),
      ).toEqual(['/bob:2', 'github.com/acme/app/alice:2', 'github.com/acme/lib/alice:2']);
      const filtered = await store.audit.usage({ ...scope, repo: 'github.com/acme/lib' }, ['repo', 'day']);
      expect(filtered).toEqual([
        expect.objectContaining({
          key: { repo: 'github.com/acme/lib', day: '2026-05-04' },
          interceptions: 2,
          cost_usd: 2,
        }),
      ]);
    });

    it('is purged with its interceptions and once nothing was added to it within retention', async () => {
      const old = started(alice._id, -5_000_000, { client_session_id: 'sess-old' });
      await store.records.write([
        { kind: 'interception', doc: old },
        {
          kind: 'annotation',
          doc: annotation({
            initiator_id: alice._id,
            interception_id: old._id,
            client_session_id: 'sess-old',
            repo: 'github.com/acme/old',
            created_at: at(-5_000_000),
          }),
        },
        {
          kind: 'annotation',
          doc: annotation({ initiator_id: alice._id, repo: 'github.com/acme/nowhere', created_at: at(-5_000_000) }),
        },
      ]);
      const cutoff = at(-1_000_000);
      let annotations = 0;
      let contexts = 0;
      for (let batch = await store.records.purge(cutoff, 10); ; batch = await store.records.purge(cutoff, 10)) {
        annotations += batch.children.annotations ?? 0;
        contexts += batch.children.work_contexts ?? 0;
        if (batch.interceptions === 0) break;
      }
      expect(annotations).toBe(2); // its interception's, and the one that found none (by its own time)
      expect(contexts).toBe(1);
      expect(await ids({ repo: 'github.com/acme/app' })).toEqual(names('first', 'second'));
    });
  });
});

describe('an embedded store written before results and work context (schema 3)', () => {
  it('gains the columns, filled from the documents, and the tables, when opened', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aibridge-schema4-'));
    try {
      const alice = user('alice');
      const i = started(alice._id, 300, { totals: totals(['Grep']) });
      const call = clientCall(i, 'call_old', 300.1, { tool: 'Grep' });
      delete call.initiator_id; // recorded before calls carried it
      const live = openEmbeddedStore(dir, 'inline');
      await live.records.write([
        { kind: 'interception', doc: i },
        { kind: 'tool_usage', doc: call },
      ]);
      await live.close();
      const db = new DatabaseSync(embeddedStorePath(dir));
      db.exec(`CREATE TABLE old AS SELECT id, doc, interception_id, created_at FROM tool_usages;
        DROP TABLE tool_usages; ALTER TABLE old RENAME TO tool_usages;
        CREATE INDEX tool_usages_parent ON tool_usages(interception_id, created_at);
        DROP TABLE annotations; DROP TABLE work_contexts; PRAGMA user_version = 3;`);
      db.close();

      const upgraded = openEmbeddedStore(dir, 'inline');
      try {
        expect((await upgraded.audit.list({ tool: 'Grep' }, { limit: 10 })).map((d) => d.interception._id)).toEqual([
          i._id,
        ]);
        // Its call has no initiator to be found by: a result for it changes nothing.
        await upgraded.records.write([result(i, 'call_old', 301)]);
        expect((await upgraded.audit.get({}, i._id))?.tool_usages.map(withoutChain)).toEqual([call]);
        await upgraded.records.write([
          { kind: 'annotation', doc: annotation({ initiator_id: alice._id, interception_id: i._id, repo: 'r' }) },
        ]);
        expect((await upgraded.audit.get({}, i._id))?.work?.repo).toBe('r');
      } finally {
        await upgraded.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
