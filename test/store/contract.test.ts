/**
 * The one contract every store passes (README, "Storage"): each operation the product uses, run
 * against the embedded SQLite store and the MongoDB store (FerretDB in CI) alike.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withoutChain } from '../../src/store/chain.ts';
import { encodeOp } from '../../src/store/codec.ts';
import { present } from '../../src/store/present.ts';
import type {
  InterceptionRecord,
  InterceptionTotals,
  RecordOp,
  TokenUsageRecord,
  ToolUsageRecord,
  UserPromptRecord,
} from '../../src/store/records.ts';
import {
  type ApiKeyDoc,
  type BudgetNotificationDoc,
  type CredentialDoc,
  DuplicateError,
  type InterceptionDetail,
  type InterceptionFilter,
  type ProviderKeyDoc,
  type TeamDoc,
  teamMemberId,
  type UserDoc,
} from '../../src/store/store.ts';
import { STORE_KINDS, type TestStore, testStore } from '../helpers/db.ts';
import { promptRecord } from '../helpers/records.ts';

const T0 = Date.parse('2026-03-01T12:00:00Z');
const at = (minutes: number) => new Date(T0 + minutes * 60_000);

const user = (username: string, fields: Partial<UserDoc> = {}): UserDoc => ({
  _id: randomUUID(),
  username,
  name: username.toUpperCase(),
  role: 'member',
  created_at: at(0),
  disabled_at: null,
  deleted_at: null,
  budget: null,
  denied_servers: [],
  ...fields,
});

const totals = (n: number, tools = 0): InterceptionTotals => ({
  input_tokens: 100 * n,
  output_tokens: 10 * n,
  cache_read_input_tokens: n,
  cache_write_input_tokens: 2 * n,
  tool_calls: tools,
});

function interception(initiator: string, started: Date, fields: Partial<InterceptionRecord> = {}): InterceptionRecord {
  return {
    _id: randomUUID(),
    initiator_id: initiator,
    api_key_id: 'key-1',
    provider: 'openai',
    provider_name: 'openai',
    model: 'gpt-5',
    client: 'Codex',
    user_agent: 'codex_cli_rs/0.171.0',
    client_session_id: null,
    started_at: started,
    ended_at: new Date(started.getTime() + 2_000),
    status: 'completed',
    cost_usd: 0.5,
    totals: totals(1),
    metadata: {},
    ...fields,
  };
}

/** A detail's records without the chain's fields (chain.test.ts checks those). */
function unchained(detail: InterceptionDetail | null): InterceptionDetail | null {
  if (!detail) return null;
  return {
    ...detail,
    interception: withoutChain(detail.interception),
    user_prompts: detail.user_prompts.map(withoutChain),
    token_usages: detail.token_usages.map(withoutChain),
    tool_usages: detail.tool_usages.map(withoutChain),
    model_thoughts: detail.model_thoughts.map(withoutChain),
  };
}

/** An interception and its prompt, as recorded. */
const withPrompt = (doc: InterceptionRecord, prompt: string): RecordOp[] => [
  { kind: 'interception', doc },
  { kind: 'user_prompt', doc: promptRecord(doc, prompt) },
];

describe.each(STORE_KINDS)('%s store', (kind) => {
  let store: TestStore;
  const alice = user('alice');
  const bob = user('bob', { role: 'auditor' });
  beforeAll(async () => {
    store = await testStore(kind, `contract-${kind}`);
    await store.identity.createUser(alice);
    await store.identity.createUser(bob);
  });
  afterAll(() => store?.close());

  describe('records', () => {
    it('writes an interception with its children and reads them back in created_at order', async () => {
      const doc = interception(alice._id, at(1), { ended_at: null, status: null, cost_usd: null, totals: null });
      const child = { interception_id: doc._id, provider_response_id: 'resp_1' };
      const usage = (minute: number): TokenUsageRecord => ({
        _id: randomUUID(),
        ...child,
        input_tokens: 7,
        output_tokens: 3,
        cache_read_input_tokens: 1,
        cache_write_input_tokens: 0,
        cost_usd: 0.25,
        metadata: { web_search_requests: minute },
        created_at: at(1 + minute / 100),
      });
      const tool: ToolUsageRecord = {
        _id: randomUUID(),
        ...child,
        tool_call_id: 'call_1',
        server_url: 'http://mcp.local/mcp',
        tool: 'search',
        input: '{"q":"x"}',
        injected: true,
        invocation_error: null,
        output: 'found "x"',
        duration_ms: 12,
        truncated: true,
        original_bytes: { output: 70_000 },
        metadata: {},
        created_at: at(1.01),
      };
      const prompt: UserPromptRecord = { _id: randomUUID(), ...child, prompt: 'hello\nworld', created_at: at(1) };
      const later = usage(2);
      const earlier = usage(1);
      const ops: RecordOp[] = [
        { kind: 'interception', doc },
        { kind: 'token_usage', doc: later },
        { kind: 'token_usage', doc: earlier },
        { kind: 'tool_usage', doc: tool },
        { kind: 'user_prompt', doc: prompt },
        {
          kind: 'model_thought',
          doc: { _id: randomUUID(), interception_id: doc._id, content: 'hmm', source: 'reasoning', created_at: at(1) },
        },
        {
          kind: 'interception_ended',
          id: doc._id,
          ended_at: at(2),
          status: 'completed',
          cost_usd: 0.5,
          totals: totals(2, 1),
          metadata: { iterations: 2 },
        },
      ];
      await store.records.write(ops);
      await store.records.write(ops); // a replayed journal changes nothing
      const found = unchained(await store.audit.get({}, doc._id));
      expect(found?.interception).toEqual({
        ...doc,
        ended_at: at(2),
        status: 'completed',
        cost_usd: 0.5,
        totals: totals(2, 1),
        metadata: { iterations: 2 },
      });
      expect(found?.initiator).toEqual({ username: 'alice', name: 'ALICE' });
      expect(found?.token_usages).toEqual([earlier, later]);
      expect(found?.tool_usages).toEqual([tool]);
      expect(found?.user_prompts).toEqual([prompt]);
      expect(found?.model_thoughts.map((t) => t.content)).toEqual(['hmm']);
    });

    it('gives a re-sent interception that carries its end those end fields, merging metadata', async () => {
      const start = interception(alice._id, at(3), {
        ended_at: null,
        status: null,
        cost_usd: null,
        totals: null,
        metadata: { streaming: true },
      });
      await store.records.write([{ kind: 'interception', doc: start }]);
      const ended = {
        ...start,
        ended_at: at(4),
        status: 'failed' as const,
        cost_usd: null,
        totals: totals(1),
        metadata: { error: 'boom' },
      };
      await store.records.write([{ kind: 'interception', doc: ended }]);
      const found = await store.audit.get({}, start._id);
      expect(found?.interception).toMatchObject({ status: 'failed', ended_at: at(4), totals: totals(1) });
      expect(found?.interception.metadata).toEqual({ streaming: true, error: 'boom' });
    });

    it('gives a routed interception the target that answered, its attempts and key source, at its end', async () => {
      const start = interception(alice._id, at(6), {
        provider: 'anthropic',
        provider_name: 'anthropic',
        model: 'claude-haiku-4-5',
        ended_at: null,
        status: null,
        cost_usd: null,
        totals: null,
        requested_model: 'fast',
        attempts: [],
        key_source: 'shared',
      });
      const routed = {
        provider: 'bedrock' as const,
        provider_name: 'bedrock',
        model: 'us.anthropic.claude-haiku-4-5-20251001-v1:0',
        requested_model: 'fast',
        attempts: [
          { provider_name: 'anthropic', model: 'claude-haiku-4-5', status: 529, error: 'upstream answered 529' },
          { provider_name: 'bedrock', model: 'us.anthropic.claude-haiku-4-5-20251001-v1:0', status: 200, error: null },
        ],
        key_source: 'user' as const,
      };
      const ops: RecordOp[] = [
        { kind: 'interception', doc: start },
        {
          kind: 'interception_ended',
          id: start._id,
          ended_at: at(7),
          status: 'completed',
          cost_usd: 0.01,
          totals: totals(1),
          routed,
        },
      ];
      await store.records.write(ops);
      await store.records.write(ops);
      const found = unchained(await store.audit.get({}, start._id));
      expect(found?.interception).toEqual({
        ...start,
        ...routed,
        ended_at: at(7),
        status: 'completed',
        cost_usd: 0.01,
        totals: totals(1),
      });
      // Filters and summaries see the model that answered.
      expect(await store.audit.count({ model: routed.model })).toBe(1);
      expect(await store.audit.count({ provider_name: 'anthropic', started_after: at(5.9) })).toBe(0);
      expect(present(found!)).toMatchObject({ requested_model: 'fast', key_source: 'user', attempts: routed.attempts });

      // The recorder's merged copy (start and end in one document) lands the same way on a start
      // written alone before (recorded with the first target tried).
      const whole = interception(alice._id, at(8), { ...routed, cost_usd: 0.02 });
      const running = { ...whole, provider_name: 'first-try', ended_at: null, status: null, totals: null };
      await store.records.write([{ kind: 'interception', doc: running }]);
      await store.records.write([{ kind: 'interception', doc: whole }]);
      expect((await store.audit.get({}, whole._id))?.interception).toMatchObject({ provider_name: 'bedrock' });
    });

    it('takes records as journal lines, where it offers that, exactly as it takes them as objects', async () => {
      if (!store.records.writeLines) return; // optional: the recorder then writes objects
      const doc = interception(alice._id, at(5), { metadata: { via: 'lines' } });
      const prompt: UserPromptRecord = {
        _id: randomUUID(),
        interception_id: doc._id,
        provider_response_id: null,
        prompt: 'é "quoted"',
        created_at: at(5),
      };
      const ops: RecordOp[] = [
        { kind: 'interception', doc },
        { kind: 'user_prompt', doc: prompt },
      ];
      await store.records.writeLines(ops.map(encodeOp));
      const found = unchained(await store.audit.get({}, doc._id));
      expect(found?.interception).toEqual(doc);
      expect(found?.user_prompts).toEqual([prompt]);
    });

    it('purges interceptions started before the cutoff, children first, in batches', async () => {
      const old = [
        interception(bob._id, new Date(Date.UTC(2001, 0, 1))),
        interception(bob._id, new Date(Date.UTC(2001, 0, 2))),
      ];
      await store.records.write(old.flatMap((doc) => withPrompt(doc, 'p')));
      const cutoff = new Date(Date.UTC(2002, 0, 1));
      const first = await store.records.purge(cutoff, 1);
      expect(first.interceptions).toBe(1);
      const second = await store.records.purge(cutoff, 10);
      expect(second.interceptions).toBe(1);
      expect(first.children.user_prompts! + second.children.user_prompts!).toBe(2);
      expect((await store.records.purge(cutoff, 10)).interceptions).toBe(0);
      for (const doc of old) expect(await store.audit.get({}, doc._id)).toBeNull();
    });
  });

  describe('audit queries', () => {
    const rows: Record<string, InterceptionRecord> = {};
    const TIE = at(-600);
    beforeAll(async () => {
      const add = (name: string, doc: InterceptionRecord) => {
        rows[name] = doc;
        return { kind: 'interception' as const, doc };
      };
      const ops: RecordOp[] = [
        add(
          'aliceClaude',
          interception(alice._id, at(-100), {
            provider: 'anthropic',
            provider_name: 'anthropic',
            model: 'claude-sonnet-4-5',
            client: 'Claude Code',
            client_session_id: 'sess-a',
            cost_usd: 1.25,
            totals: totals(3, 2),
          }),
        ),
        add(
          'aliceClaude2',
          interception(alice._id, at(-90), {
            provider: 'anthropic',
            provider_name: 'anthropic',
            model: 'claude-sonnet-4-5',
            client: 'Claude Code',
            client_session_id: 'sess-a',
            cost_usd: 0.75,
          }),
        ),
        add(
          'bobEu',
          interception(bob._id, at(-80), { provider_name: 'openai-eu', model: 'gpt-5-mini', cost_usd: null }),
        ),
        add(
          'bobFailed',
          interception(bob._id, at(-70), { status: 'failed', client: 'Zed', client_session_id: 'sess-b' }),
        ),
        add(
          'bobRunning',
          interception(bob._id, at(-60), { ended_at: null, status: null, cost_usd: null, totals: null }),
        ),
      ];
      for (let i = 0; i < 7; i++)
        ops.push(add(`tie${i}`, interception(bob._id, TIE, { model: 'tie-model', client: 'Unknown' })));
      await store.records.write(ops);
    });

    const ids = async (filter: InterceptionFilter, limit = 100) =>
      (await store.audit.list(filter, { limit })).map((d) => d.interception._id);
    const scope = { started_after: at(-1000), started_before: at(0) };

    it('filters by every key and orders by started_at then _id, descending', async () => {
      const tieIds = [0, 1, 2, 3, 4, 5, 6]
        .map((i) => rows[`tie${i}`]!._id)
        .sort()
        .reverse();
      expect(await ids(scope)).toEqual([
        rows.bobRunning!._id,
        rows.bobFailed!._id,
        rows.bobEu!._id,
        rows.aliceClaude2!._id,
        rows.aliceClaude!._id,
        ...tieIds,
      ]);
      expect(await ids({ ...scope, initiator_id: alice._id })).toEqual([rows.aliceClaude2!._id, rows.aliceClaude!._id]);
      expect(await ids({ ...scope, provider: 'anthropic' })).toHaveLength(2);
      expect(await ids({ ...scope, provider_name: 'openai-eu' })).toEqual([rows.bobEu!._id]);
      expect(await ids({ ...scope, model: 'gpt-5-mini' })).toEqual([rows.bobEu!._id]);
      expect(await ids({ ...scope, client: 'Zed' })).toEqual([rows.bobFailed!._id]);
      expect(await ids({ ...scope, client_session_id: 'sess-a' })).toEqual([
        rows.aliceClaude2!._id,
        rows.aliceClaude!._id,
      ]);
      expect(await ids({ ...scope, status: 'failed' })).toEqual([rows.bobFailed!._id]);
      expect(await ids({ ...scope, status: 'running' })).toEqual([rows.bobRunning!._id]);
      expect(await ids({ ...scope, status: 'completed', provider: 'openai', client: 'Codex' })).toEqual([
        rows.bobEu!._id,
      ]);
      expect(await ids({ started_after: at(-95), started_before: at(-65) })).toEqual([
        rows.bobFailed!._id,
        rows.bobEu!._id,
        rows.aliceClaude2!._id,
      ]);
      expect(await store.audit.count(scope)).toBe(12);
      expect(await store.audit.count({ ...scope, initiator_id: bob._id, model: 'tie-model' })).toBe(7);
    });

    it('filters by a list of initiators (a team), alone or with one initiator; an empty list matches nothing', async () => {
      expect(await ids({ ...scope, initiator_ids: [alice._id, 'nobody'] })).toEqual([
        rows.aliceClaude2!._id,
        rows.aliceClaude!._id,
      ]);
      expect(await ids({ ...scope, initiator_ids: [] })).toEqual([]);
      expect(await ids({ ...scope, initiator_ids: [alice._id], initiator_id: bob._id })).toEqual([]);
      expect(await ids({ ...scope, initiator_ids: [alice._id, bob._id], initiator_id: alice._id })).toHaveLength(2);
      // Counts and sums over whole days (the embedded store's day rollup) and partial ones agree with one initiator's.
      for (const range of [{}, scope]) {
        const one = { ...range, initiator_id: alice._id };
        const many = { ...range, initiator_ids: [alice._id] };
        expect(await store.audit.count(many)).toBe(await store.audit.count(one));
        expect(await store.audit.usage(many, [])).toEqual(await store.audit.usage(one, []));
      }
      expect(await store.audit.count({ ...scope, initiator_ids: [alice._id] })).toBe(2);
      expect(await store.audit.count({ initiator_ids: [] })).toBe(0);
      const byInitiator = await store.audit.usage({ initiator_ids: [alice._id, bob._id] }, ['initiator']);
      expect(byInitiator.map((g) => g.key.initiator).sort()).toEqual([alice._id, bob._id].sort());
      expect(await store.audit.distinct('client', { ...scope, initiator_ids: [alice._id] })).toEqual(['Claude Code']);
      expect(
        (await store.audit.sessions({ ...scope, initiator_ids: [bob._id] }, { limit: 10 })).results.map(
          (s) => s.client_session_id,
        ),
      ).toEqual(['sess-b']);
    });

    it('pages with offset and with a keyset cursor through ties', async () => {
      const all = await ids(scope);
      expect((await store.audit.list(scope, { limit: 3, offset: 4 })).map((d) => d.interception._id)).toEqual(
        all.slice(4, 7),
      );
      const seen: string[] = [];
      let after: Awaited<ReturnType<typeof store.audit.cursor>> = null;
      for (;;) {
        const page = await store.audit.list(scope, { limit: 2, after: after ?? undefined });
        seen.push(...page.map((d) => d.interception._id));
        if (page.length < 2) break;
        after = await store.audit.cursor(scope, page.at(-1)!.interception._id);
        expect(after).not.toBeNull();
      }
      expect(seen).toEqual(all);
      expect(await store.audit.cursor({ ...scope, initiator_id: alice._id }, rows.bobEu!._id)).toBeNull();
      expect(await store.audit.cursor(scope, rows.bobEu!._id)).toEqual({ _id: rows.bobEu!._id, started_at: at(-80) });
    });

    it('renders a page as the audit API shows it', async () => {
      const page = { limit: 3, offset: 1 };
      const expected = (await store.audit.list(scope, page)).map(present);
      expect(JSON.parse(await store.audit.listJson(scope, page))).toEqual(JSON.parse(JSON.stringify(expected)));
    });

    it('finds one interception only within the visible filter', async () => {
      expect(await store.audit.get({ initiator_id: alice._id }, rows.bobEu!._id)).toBeNull();
      expect((await store.audit.get({ initiator_id: bob._id }, rows.bobEu!._id))?.interception.model).toBe(
        'gpt-5-mini',
      );
      expect(await store.audit.get({}, 'no-such-id')).toBeNull();
    });

    it('lists distinct models and clients', async () => {
      expect(await store.audit.distinct('model', scope)).toEqual([
        'claude-sonnet-4-5',
        'gpt-5',
        'gpt-5-mini',
        'tie-model',
      ]);
      expect(await store.audit.distinct('client', { ...scope, initiator_id: alice._id })).toEqual(['Claude Code']);
    });

    it('sums usage by any keys, ended interceptions only, null cost when nothing was priced', async () => {
      const byModel = await store.audit.usage(scope, ['model']);
      const sorted = byModel.sort((a, b) => (a.key.model! < b.key.model! ? -1 : 1));
      expect(sorted).toEqual([
        {
          key: { model: 'claude-sonnet-4-5' },
          interceptions: 2,
          input_tokens: 400,
          output_tokens: 40,
          cache_read_input_tokens: 4,
          cache_write_input_tokens: 8,
          cost_usd: 2,
          tool_calls: 2,
          failed: 0,
        },
        expect.objectContaining({ key: { model: 'gpt-5' }, interceptions: 1, failed: 1, cost_usd: 0.5 }),
        expect.objectContaining({ key: { model: 'gpt-5-mini' }, interceptions: 1, cost_usd: null }),
        expect.objectContaining({ key: { model: 'tie-model' }, interceptions: 7, cost_usd: 3.5 }),
      ]);
      const all = await store.audit.usage(scope, []);
      expect(all).toEqual([expect.objectContaining({ key: {}, interceptions: 11, input_tokens: 1_300 })]);
      const byUserDay = await store.audit.usage(scope, ['initiator', 'day']);
      expect(byUserDay.map((g) => g.key).sort((a, b) => (a.initiator! < b.initiator! ? -1 : 1))).toEqual(
        [
          { initiator: alice._id, day: '2026-03-01' },
          { initiator: bob._id, day: '2026-03-01' },
        ].sort((a, b) => (a.initiator < b.initiator ? -1 : 1)),
      );
      const byProviderClient = await store.audit.usage({ ...scope, initiator_id: bob._id }, ['provider', 'client']);
      expect(byProviderClient.map((g) => [g.key, g.interceptions]).sort()).toEqual(
        [
          [{ provider: 'openai', client: 'Codex' }, 1],
          [{ provider: 'openai', client: 'Unknown' }, 7],
          [{ provider: 'openai', client: 'Zed' }, 1],
        ].sort(),
      );
    });

    it('groups days in UTC across a day boundary', async () => {
      const day = (iso: string) => interception(alice._id, new Date(iso), { model: 'day-model' });
      await store.records.write(
        [day('2026-04-01T23:59:59Z'), day('2026-04-02T00:00:00Z'), day('2026-04-02T10:00:00Z')].map((doc) => ({
          kind: 'interception' as const,
          doc,
        })),
      );
      const groups = await store.audit.usage({ model: 'day-model' }, ['day']);
      expect(groups.map((g) => [g.key.day, g.interceptions]).sort()).toEqual([
        ['2026-04-01', 1],
        ['2026-04-02', 2],
      ]);
    });

    it('summarises client sessions, most recently active first', async () => {
      const sessions = await store.audit.sessions(scope, { limit: 10 });
      expect(sessions).toEqual({
        count: 2,
        results: [
          {
            client_session_id: 'sess-b',
            initiator_id: bob._id,
            client: 'Zed',
            first_started_at: at(-70),
            last_started_at: at(-70),
            last_ended_at: new Date(at(-70).getTime() + 2_000),
            interceptions: 1,
            input_tokens: 100,
            output_tokens: 10,
            cache_read_input_tokens: 1,
            cache_write_input_tokens: 2,
            cost_usd: 0.5,
          },
          expect.objectContaining({
            client_session_id: 'sess-a',
            initiator_id: alice._id,
            first_started_at: at(-100),
            last_started_at: at(-90),
            // The latest turn's end, not the first's (which ended later than it started).
            last_ended_at: new Date(at(-90).getTime() + 2_000),
            interceptions: 2,
            input_tokens: 400,
            cache_read_input_tokens: 4,
            cache_write_input_tokens: 8,
            cost_usd: 2,
          }),
        ],
      });
      const second = await store.audit.sessions(scope, { limit: 1, offset: 1 });
      expect(second.results.map((s) => s.client_session_id)).toEqual(['sess-a']);
      expect(second.count).toBe(2);
      const alices = await store.audit.sessions({ ...scope, initiator_id: alice._id }, { limit: 10 });
      expect([alices.count, alices.results.length]).toEqual([1, 1]);
      expect(await store.audit.sessions({ ...scope, initiator_id: 'nobody' }, { limit: 10 })).toEqual({
        count: 0,
        results: [],
      });
    });

    it('summarises the tools called, most calls first, by tool, server and kind', async () => {
      const who = randomUUID();
      const ops: RecordOp[] = [];
      const call = (id: string, tool: string, injected: boolean, extra: Partial<ToolUsageRecord> = {}): RecordOp => ({
        kind: 'tool_usage',
        doc: {
          _id: randomUUID(),
          interception_id: id,
          provider_response_id: null,
          tool_call_id: randomUUID(),
          server_url: injected ? 'http://mcp.local/mcp' : null,
          tool,
          input: '{}',
          injected,
          invocation_error: null,
          output: injected ? 'ok' : null,
          duration_ms: injected ? 10 : null,
          metadata: injected ? { server: 'docs' } : {},
          created_at: at(1),
          ...extra,
        },
      });
      for (let i = 0; i < 3; i++) {
        const doc = interception(who, at(-50 + i));
        ops.push(
          { kind: 'interception', doc },
          call(doc._id, 'search', true, { duration_ms: 10 * (i + 1) }),
          call(doc._id, 'Bash', false),
        );
        if (i === 0)
          ops.push(
            call(doc._id, 'search', true, { invocation_error: 'boom', duration_ms: 40 }),
            call(doc._id, 'Read', false),
          );
      }
      await store.records.write(ops);
      expect(await store.audit.tools({ initiator_id: who }, 10)).toEqual({
        count: 3,
        results: [
          {
            tool: 'search',
            server_url: 'http://mcp.local/mcp',
            server: 'docs',
            injected: true,
            calls: 4,
            failed: 1,
            duration_ms: 100,
            timed: 4,
          },
          {
            tool: 'Bash',
            server_url: null,
            server: null,
            injected: false,
            calls: 3,
            failed: 0,
            duration_ms: 0,
            timed: 0,
          },
          {
            tool: 'Read',
            server_url: null,
            server: null,
            injected: false,
            calls: 1,
            failed: 0,
            duration_ms: 0,
            timed: 0,
          },
        ],
      });
      const first = await store.audit.tools({ initiator_id: who }, 1);
      expect([first.count, first.results.map((t) => t.tool)]).toEqual([3, ['search']]);
      expect(await store.audit.tools({ initiator_id: 'nobody' }, 10)).toEqual({ count: 0, results: [] });
    });

    it('adds up a user’s spend since a time', async () => {
      expect(await store.audit.spend(bob._id, at(-75))).toBeCloseTo(0.5);
      expect(await store.audit.spend(bob._id, at(-1000))).toBeCloseTo(4);
      expect(await store.audit.spend('nobody', at(-1000))).toBe(0);
    });
  });

  describe('counts and usage over days (whole days and partial ones)', () => {
    const day = (iso: string, fields: Partial<InterceptionRecord> = {}) =>
      interception(alice._id, new Date(iso), { model: 'span-model', ...fields });
    const running = day('2026-05-02T12:00:00Z', { ended_at: null, status: null, cost_usd: null, totals: null });
    const docs = [
      day('2026-05-01T06:00:00Z', { cost_usd: 1, totals: totals(1, 1) }),
      day('2026-05-01T20:00:00Z', { status: 'failed', cost_usd: null, totals: totals(3) }),
      day('2026-05-02T00:00:00.000Z', { cost_usd: 0.25, client: 'Zed', totals: totals(5) }),
      running,
      day('2026-05-03T23:59:59.999Z', { cost_usd: 2, totals: totals(7, 2) }),
      day('2026-05-04T01:00:00Z', { cost_usd: 0.5, provider: 'anthropic', totals: totals(11) }),
    ];
    const ms = (iso: string) => new Date(iso);
    // Ranges whose ends fall on, just before, just after and between midnights, or are open.
    const ranges: InterceptionFilter[] = [
      {},
      { started_after: ms('2026-04-30T00:00:00Z') },
      { started_after: ms('2026-05-01T00:00:00Z'), started_before: ms('2026-05-05T00:00:00Z') },
      { started_after: ms('2026-05-01T12:00:00Z'), started_before: ms('2026-05-03T23:59:59.999Z') },
      { started_after: ms('2026-05-01T23:59:59.999Z'), started_before: ms('2026-05-04T00:00:00.001Z') },
      { started_after: ms('2026-05-02T00:00:00Z') },
      { started_before: ms('2026-05-02T00:00:00Z') },
      { started_before: ms('2026-05-04T00:00:00Z'), status: 'completed' },
      { started_after: ms('2026-05-01T00:00:00Z'), client: 'Zed' },
      { started_after: ms('2026-04-01T00:00:00Z'), provider: 'anthropic' },
      { status: 'running' },
    ];
    const scoped = (range: InterceptionFilter): InterceptionFilter => ({
      ...range,
      initiator_id: alice._id,
      model: 'span-model',
    });

    /** What the listing (row by row) says count and usage must be. */
    async function expectMatchesListing(range: InterceptionFilter) {
      const filter = scoped(range);
      const listed = (await store.audit.list(filter, { limit: 100 })).map((d) => d.interception);
      expect(await store.audit.count(filter), JSON.stringify(range)).toBe(listed.length);
      const ended = listed.filter((i) => i.status !== null);
      const priced = ended.filter((i) => i.cost_usd !== null);
      const [sum] = await store.audit.usage(filter, []);
      if (!ended.length) return expect(sum, JSON.stringify(range)).toBeUndefined();
      expect(sum, JSON.stringify(range)).toMatchObject({
        interceptions: ended.length,
        input_tokens: ended.reduce((n, i) => n + (i.totals?.input_tokens ?? 0), 0),
        tool_calls: ended.reduce((n, i) => n + (i.totals?.tool_calls ?? 0), 0),
        failed: ended.filter((i) => i.status === 'failed').length,
      });
      if (priced.length) expect(sum?.cost_usd).toBeCloseTo(priced.reduce((n, i) => n + (i.cost_usd ?? 0), 0));
      else expect(sum?.cost_usd).toBeNull();
      const byDay = await store.audit.usage(filter, ['day']);
      expect(byDay.reduce((n, g) => n + g.interceptions, 0)).toBe(ended.length);
    }

    beforeAll(async () => {
      await store.records.write(docs.map((doc) => ({ kind: 'interception' as const, doc })));
    });

    it('agrees with the listing for every range, before and after an interception ends', async () => {
      for (const range of ranges) await expectMatchesListing(range);
      expect(await store.audit.count(scoped({ status: 'running' }))).toBe(1);
      await store.records.write([
        {
          kind: 'interception_ended',
          id: running._id,
          ended_at: ms('2026-05-02T12:01:00Z'),
          status: 'completed',
          cost_usd: 0.75,
          totals: totals(13, 1),
        },
      ]);
      expect(await store.audit.count(scoped({ status: 'running' }))).toBe(0);
      for (const range of ranges) await expectMatchesListing(range);
      const [all] = await store.audit.usage(scoped({}), []);
      expect(all).toMatchObject({ interceptions: 6, input_tokens: 100 * 40, tool_calls: 4, failed: 1 });
      expect(all?.cost_usd).toBeCloseTo(4.5);
      expect(await store.audit.spend(alice._id, ms('2026-05-02T00:00:00Z'))).toBeCloseTo(3.5);
    });

    it('forgets purged interceptions in counts and sums', async () => {
      const old = [day('1999-06-01T10:00:00Z', { cost_usd: 9 }), day('1999-06-03T10:00:00Z', { cost_usd: 9 })];
      await store.records.write(old.map((doc) => ({ kind: 'interception' as const, doc })));
      expect(await store.audit.count(scoped({ started_before: ms('2000-01-01T00:00:00Z') }))).toBe(2);
      await store.records.purge(ms('1999-06-02T00:00:00Z'), 100);
      expect(await store.audit.count(scoped({ started_before: ms('2000-01-01T00:00:00Z') }))).toBe(1);
      const [sum] = await store.audit.usage(scoped({ started_before: ms('2000-01-01T00:00:00Z') }), ['day']);
      expect(sum).toMatchObject({ key: { day: '1999-06-03' }, interceptions: 1, cost_usd: 9 });
      expect(await store.audit.count(scoped({}))).toBe(7);
    });
  });

  // After the queries above: on FerretDB every query reads the whole collection.
  describe('large pages', () => {
    it('renders a page as large as an export asks for, in order, from the start, an offset or a cursor', async () => {
      const many = Array.from({ length: 450 }, (_, i) =>
        interception(i % 3 ? bob._id : alice._id, new Date(Date.UTC(2025, 6, 1) + Math.floor(i / 2) * 1_000), {
          model: 'page-model',
        }),
      );
      await store.records.write(many.flatMap((doc, i) => withPrompt(doc, `p${i}`)));
      const cursor = await store.audit.cursor({}, many[300]!._id);
      const pages: Array<[InterceptionFilter, { limit: number; offset?: number; after?: typeof cursor & {} }]> = [
        [{ model: 'page-model' }, { limit: 1000 }],
        [
          { model: 'page-model', initiator_id: bob._id },
          { limit: 250, offset: 20 },
        ],
        [{ model: 'page-model' }, { limit: 400, after: cursor ?? undefined }],
      ];
      for (const [filter, page] of pages) {
        const expected = (await store.audit.list(filter, page)).map(present);
        const rendered = JSON.parse(await store.audit.listJson(filter, page));
        expect(rendered).toEqual(JSON.parse(JSON.stringify(expected)));
        expect(rendered.length).toBe(expected.length);
      }
      expect(JSON.parse(await store.audit.listJson({ model: 'page-model' }, { limit: 1000 }))).toHaveLength(450);
      // Following the pages as an export does (the embedded store reads each next one ahead).
      const followed: string[] = [];
      let after: Awaited<ReturnType<typeof store.audit.cursor>> = null;
      for (;;) {
        const rows = JSON.parse(
          await store.audit.listJson({ model: 'page-model' }, { limit: 200, after: after ?? undefined }),
        ) as Array<{ id: string }>;
        followed.push(...rows.map((r) => r.id));
        if (rows.length < 200) break;
        after = await store.audit.cursor({}, rows.at(-1)?.id as string);
      }
      const listed = await store.audit.list({ model: 'page-model' }, { limit: 1000 });
      expect(followed).toEqual(listed.map((d) => d.interception._id));
      expect(JSON.parse(await store.audit.listJson({ model: 'no-such-model' }, { limit: 1000 }))).toEqual([]);
    });
  });

  describe('identity', () => {
    it('creates users with unique usernames and lists them by name, hiding the deleted', async () => {
      const carol = user('carol');
      await store.identity.createUser(carol);
      await expect(store.identity.createUser(user('carol'))).rejects.toBeInstanceOf(DuplicateError);
      expect(await store.identity.userByUsername('carol')).toEqual(carol);
      expect(await store.identity.userById(carol._id)).toEqual(carol);
      expect((await store.identity.usersByIds([carol._id, alice._id, 'x'])).map((u) => u.username).sort()).toEqual([
        'alice',
        'carol',
      ]);
      expect(await store.identity.updateUser(carol._id, { role: 'owner', budget: { usd: 5, period: 'week' } })).toBe(
        'updated',
      );
      expect(await store.identity.userById(carol._id)).toMatchObject({
        role: 'owner',
        budget: { usd: 5, period: 'week' },
      });
      expect(await store.identity.updateUser('nobody', { role: 'owner' })).toBe('no-user');
      // Carol is the only active owner: she cannot leave, until another owner is there.
      expect(await store.identity.updateUser(carol._id, { deleted_at: at(5) })).toBe('last-owner');
      await store.identity.updateUser(bob._id, { role: 'owner' });
      expect(await store.identity.updateUser(carol._id, { deleted_at: at(5) })).toBe('updated');
      expect(await store.identity.updateUser(bob._id, { role: 'auditor' })).toBe('last-owner');
      expect(await store.identity.updateUser(bob._id, { name: 'Bob B.' })).toBe('updated'); // harmless changes pass
      expect((await store.identity.users()).map((u) => u.username)).not.toContain('carol');
      expect((await store.identity.users({ includeDeleted: true })).map((u) => u.username)).toContain('carol');
      expect(await store.identity.countUsers()).toBeGreaterThanOrEqual(3);
    });

    it('keeps usernames unique regardless of case; finds one in any case unless old names clash in case', async () => {
      const erin = user('erin');
      await store.identity.createUser(erin);
      await expect(store.identity.createUser(user('Erin'))).rejects.toBeInstanceOf(DuplicateError);
      await expect(store.identity.createUser(user('ERIN'))).rejects.toBeInstanceOf(DuplicateError);
      expect(await store.identity.userByUsername('ERIN')).toEqual(erin);
      expect(await store.identity.userByUsername('er.n')).toBeNull(); // a name, never a pattern
      expect(await store.identity.userByUsername('e%')).toBeNull();

      // Names that clash in case from before the rule (here through migrate's insert) stay, each
      // found by its exact name; the other cases name neither, and stay taken.
      const upper = user('Frank');
      const lower = user('frank');
      expect(await store.documents.insertNew('users', [upper, lower])).toBe(2);
      expect(await store.identity.userByUsername('Frank')).toEqual(upper);
      expect(await store.identity.userByUsername('frank')).toEqual(lower);
      expect(await store.identity.userByUsername('FRANK')).toBeNull();
      await expect(store.identity.createUser(user('FRANK'))).rejects.toBeInstanceOf(DuplicateError);
    });

    it('keeps tokens by hash, revokes them once, and only ever raises last_used_at', async () => {
      const key = (fields: Partial<ApiKeyDoc> = {}): ApiKeyDoc => ({
        _id: randomUUID(),
        user_id: alice._id,
        hash: randomUUID(),
        name: 'laptop',
        kind: 'api',
        created_at: at(0),
        expires_at: null,
        last_used_at: null,
        revoked_at: null,
        ...fields,
      });
      const a = key();
      const b = key({ created_at: at(1), name: 'ci' });
      await store.identity.createKey(a);
      await store.identity.createKey(b);
      await expect(store.identity.createKey({ ...key(), hash: a.hash })).rejects.toBeInstanceOf(DuplicateError);
      expect(await store.identity.keyByHash(a.hash)).toEqual(a);
      expect(await store.identity.keyById(b._id)).toEqual(b);
      expect((await store.identity.keys(alice._id)).map((k) => k.name)).toEqual(['laptop', 'ci']);
      await store.identity.touchKeys([[a._id, at(10)]]);
      await store.identity.touchKeys([[a._id, at(9)]]);
      expect((await store.identity.keyById(a._id))?.last_used_at).toEqual(at(10));
      expect(await store.identity.revokeKeys([a._id, b._id], at(11))).toBe(2);
      expect(await store.identity.revokeKeys([a._id], at(12))).toBe(0);
      expect((await store.identity.keyById(a._id))?.revoked_at).toEqual(at(11));

      const session = key({ kind: 'console', expires_at: at(20) });
      const live = key({ kind: 'console', expires_at: at(100) });
      await store.identity.createKey(session);
      await store.identity.createKey(live);
      expect(await store.identity.pruneKeys(at(50))).toBe(1);
      expect(await store.identity.keyById(session._id)).toBeNull();
      expect(await store.identity.keyById(live._id)).not.toBeNull();
      expect(await store.identity.keyById(a._id)).not.toBeNull(); // API tokens stay for the audit trail
    });
  });

  describe('MCP credentials', () => {
    it('upserts one row per user and server, keeping its id and creation time', async () => {
      const doc = (server: string, enc: string, minute: number): CredentialDoc => ({
        _id: randomUUID(),
        user_id: alice._id,
        server,
        header_names: ['Authorization'],
        headers_enc: enc,
        created_at: at(minute),
        updated_at: at(minute),
      });
      const first = doc('github', 'v1.a', 1);
      await store.credentials.upsert(first);
      await store.credentials.upsert(doc('github', 'v1.b', 2));
      await store.credentials.upsert(doc('atlassian', 'v1.c', 3));
      expect(await store.credentials.get(alice._id, 'github')).toEqual({
        ...first,
        headers_enc: 'v1.b',
        updated_at: at(2),
      });
      expect((await store.credentials.list(alice._id)).map((c) => c.server)).toEqual(['atlassian', 'github']);
      expect(await store.credentials.delete(alice._id, 'github')).toBe(true);
      expect(await store.credentials.delete(alice._id, 'github')).toBe(false);
      expect(await store.credentials.deleteForUser(alice._id)).toBe(1);
      expect(await store.credentials.list()).toEqual([]);
    });
  });

  describe('teams', () => {
    const team = (name: string, fields: Partial<TeamDoc> = {}): TeamDoc => ({
      _id: randomUUID(),
      name,
      name_key: name.toLowerCase(),
      created_at: at(0),
      budget: null,
      sso: false,
      ...fields,
    });
    const member = (t: TeamDoc, u: UserDoc) => ({
      _id: teamMemberId(t._id, u._id),
      team_id: t._id,
      user_id: u._id,
      created_at: at(1),
    });

    it('keeps team names unique case-insensitively and finds a team by id or name', async () => {
      const dev = team('Dev');
      await store.teams.create(dev);
      await expect(store.teams.create(team('dev'))).rejects.toBeInstanceOf(DuplicateError);
      expect(await store.teams.byName('DEV')).toEqual(dev);
      expect(await store.teams.byId(dev._id)).toEqual(dev);
      expect(await store.teams.byName('nope')).toBeNull();
      await store.teams.create(team('/engineering/Platform Team', { sso: true }));
      expect((await store.teams.list()).map((t) => t.name)).toEqual(['/engineering/Platform Team', 'Dev']);
      expect(await store.teams.update(dev._id, { budget: { usd: 50, period: 'week' } })).toBe(true);
      expect((await store.teams.byId(dev._id))?.budget).toEqual({ usd: 50, period: 'week' });
      expect(await store.teams.update('missing', { sso: true })).toBe(false);
    });

    it('adds a member once, removes them, lists by team or user, and deletes a team with its memberships', async () => {
      const red = team('red');
      const blue = team('blue');
      await store.teams.create(red);
      await store.teams.create(blue);
      expect(await store.teams.addMember(member(red, alice))).toBe(true);
      expect(await store.teams.addMember(member(red, alice))).toBe(false);
      const racing = await Promise.all(Array.from({ length: 5 }, () => store.teams.addMember(member(red, bob))));
      expect(racing.filter(Boolean)).toHaveLength(1);
      await store.teams.addMember(member(blue, alice));
      expect((await store.teams.members({ team_ids: [red._id] })).map((m) => m.user_id).sort()).toEqual(
        [alice._id, bob._id].sort(),
      );
      expect(
        (await store.teams.members({ user_id: alice._id, team_ids: [red._id, blue._id] })).map((m) => m.team_id).sort(),
      ).toEqual([red._id, blue._id].sort());
      expect(await store.teams.members({ team_ids: [] })).toEqual([]);
      expect(await store.teams.removeMember(red._id, bob._id)).toBe(true);
      expect(await store.teams.removeMember(red._id, bob._id)).toBe(false);
      expect(await store.teams.delete(red._id)).toBe(true);
      expect(await store.teams.byId(red._id)).toBeNull();
      expect(await store.teams.members({ team_ids: [red._id] })).toEqual([]);
      expect((await store.teams.members({ user_id: alice._id })).map((m) => m.team_id)).toContain(blue._id);
      expect(await store.teams.delete(red._id)).toBe(false);
    });
  });

  describe('budget notifications', () => {
    const note = (scopeId: string, share: number, resetsAt: Date): BudgetNotificationDoc => ({
      _id: `user:${scopeId}:month:${at(0).toISOString()}:${share}`,
      scope: { kind: 'user', id: scopeId, name: 'alice' },
      share,
      budget: { usd: 10, period: 'month' },
      spent_usd: share * 10,
      period_start: at(0),
      resets_at: resetsAt,
      created_at: at(share * 10),
    });

    it('lets one of many racers claim a notification, and lists those of the current period newest first', async () => {
      const claims = await Promise.all(
        Array.from({ length: 6 }, () => store.notifications.claim(note('n-1', 0.8, at(100)))),
      );
      expect(claims.filter(Boolean)).toHaveLength(1);
      expect(await store.notifications.claim(note('n-1', 1, at(100)))).toBe(true);
      expect(await store.notifications.claim(note('n-2', 0.8, at(5)))).toBe(true);
      const current = await store.notifications.current(['n-1', 'n-2', 'n-3'], at(10));
      expect(current.map((n) => n.share)).toEqual([1, 0.8]);
      expect(current[0]).toEqual(note('n-1', 1, at(100)));
      expect(await store.notifications.current([], at(10))).toEqual([]);
    });
  });

  describe("users' own provider keys", () => {
    it('upserts one row per user and provider, keeping its id and creation time', async () => {
      const doc = (provider: string, enc: string, minute: number): ProviderKeyDoc => ({
        _id: randomUUID(),
        user_id: alice._id,
        provider,
        key_enc: enc,
        created_at: at(minute),
        updated_at: at(minute),
      });
      const first = doc('openai', 'v1.a', 1);
      await store.providerKeys.upsert(first);
      await store.providerKeys.upsert(doc('openai', 'v1.b', 2));
      await store.providerKeys.upsert(doc('anthropic', 'v1.c', 3));
      expect(await store.providerKeys.get(alice._id, 'openai')).toEqual({
        ...first,
        key_enc: 'v1.b',
        updated_at: at(2),
      });
      expect(await store.providerKeys.get(bob._id, 'openai')).toBeNull();
      expect((await store.providerKeys.list(alice._id)).map((k) => k.provider)).toEqual(['anthropic', 'openai']);
      expect(await store.providerKeys.delete(alice._id, 'openai')).toBe(true);
      expect(await store.providerKeys.delete(alice._id, 'openai')).toBe(false);
      expect(await store.providerKeys.deleteForUser(alice._id)).toBe(1);
      expect(await store.providerKeys.list()).toEqual([]);
    });
  });

  describe('leases', () => {
    it('lets one holder at a time hold a lease until it expires or is released', async () => {
      const now = at(0);
      expect(await store.leases.acquire('retention', 'a', 60_000, now)).toBe(true);
      expect(await store.leases.acquire('retention', 'b', 60_000, now)).toBe(false);
      expect(await store.leases.acquire('retention', 'a', 60_000, at(0.5))).toBe(true); // renewal
      expect(await store.leases.acquire('retention', 'b', 60_000, at(2))).toBe(true); // expired
      await store.leases.release('retention', 'a'); // not the holder: no effect
      expect(await store.leases.acquire('retention', 'a', 60_000, at(2))).toBe(false);
      await store.leases.release('retention', 'b');
      expect(await store.leases.acquire('retention', 'a', 60_000, at(2))).toBe(true);
    });
  });

  describe('quota ledgers', () => {
    const now = new Date('2026-12-01T10:00:00Z');
    const until = (ms: number) => new Date(now.getTime() + ms);
    const grant = (key: string, holder: string, min: number, want: number, limit: number, seed = 0, at = now) =>
      store.quotas.grant({ key, holder, min, want, limit, seed, now: at, expiresAt: until(30_000) });

    it('grants what is left under the limit, counts settled spend, and gives back released allowance', async () => {
      expect(await grant('q1', 'a', 1, 4, 10)).toEqual({ held: 4, spent: 0, othersHeld: 0 });
      expect(await grant('q1', 'b', 1, 10, 10)).toEqual({ held: 6, spent: 0, othersHeld: 4 });
      expect(await grant('q1', 'c', 1, 1, 10)).toEqual({ held: 0, spent: 0, othersHeld: 10 });
      expect(
        await store.quotas.settle({ key: 'q1', holder: 'a', spent: 3, release: true, expiresAt: until(30_000) }),
      ).toBe(3);
      expect(await grant('q1', 'c', 1, 5, 10)).toEqual({ held: 1, spent: 3, othersHeld: 6 });
      expect(
        await store.quotas.settle({ key: 'q1', holder: 'b', spent: 2, release: false, expiresAt: until(30_000) }),
      ).toBe(5);
      expect(
        await store.quotas.settle({ key: 'none', holder: 'b', spent: 2, release: true, expiresAt: until(1) }),
      ).toBe(0);
    });

    it('starts a ledger at the recorded spend; a live ledger keeps its own count', async () => {
      expect(await grant('q2', 'a', 1, 5, 10, 7)).toEqual({ held: 3, spent: 7, othersHeld: 0 });
      expect(await grant('q2', 'b', 0.5, 1, 10, 9)).toEqual({ held: 0, spent: 7, othersHeld: 3 });
    });

    it('lets a holder’s allowance lapse at its expiry', async () => {
      await grant('q3', 'dead', 1, 10, 10);
      expect((await grant('q3', 'b', 1, 1, 10)).held).toBe(0);
      expect((await grant('q3', 'b', 1, 1, 10, 0, until(31_000))).held).toBe(1);
    });

    it('never grants more than the limit to racing processes', async () => {
      const holders = Array.from({ length: 12 }, (_, i) => `h${i}`);
      const grants = await Promise.all(holders.map((h) => grant('q4', h, 1, 1, 5)));
      expect(grants.reduce((n, g) => n + g.held, 0)).toBe(5);
      const settles = holders.map((h) =>
        store.quotas.settle({ key: 'q4', holder: h, spent: 1, release: true, expiresAt: until(30_000) }),
      );
      await Promise.all(settles);
      expect(await grant('q4', 'late', 0.1, 1, 5)).toMatchObject({ held: 0, othersHeld: 0 });
    });

    it('prunes ledgers idle since before a time', async () => {
      await grant('q5', 'a', 1, 1, 10);
      expect(await store.quotas.prune(until(60_000))).toBeGreaterThan(0);
      expect(await grant('q5', 'a', 1, 1, 10)).toEqual({ held: 1, spent: 0, othersHeld: 0 });
    });
  });

  describe('documents (migrate)', () => {
    it('scans a collection in _id order and inserts only what is new', async () => {
      const page1 = await store.documents.scan('users', null, 2);
      const page2 = await store.documents.scan('users', page1.at(-1)!._id, 100);
      const all = [...page1, ...page2].map((d) => d._id);
      expect(all).toEqual([...all].sort());
      expect(all).toHaveLength(await store.documents.estimate('users'));
      const extra = user('dave');
      expect(await store.documents.insertNew('users', [page1[0]!, extra])).toBe(1);
      expect(await store.documents.insertNew('users', [extra])).toBe(0);
      expect(await store.identity.userByUsername('dave')).toEqual(extra);
    });
  });

  it('answers a ping', async () => {
    expect(await store.ping()).toBe(true);
  });
});
