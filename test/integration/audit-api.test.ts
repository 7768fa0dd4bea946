import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiList } from '../../src/store/present.ts';
import type {
  InterceptionRecord,
  TokenUsageRecord,
  ToolUsageRecord,
  UserPromptRecord,
} from '../../src/store/records.ts';
import { startTestBridge, type TestBridge } from '../helpers/bridge.ts';
import { type TestStore, testStore } from '../helpers/db.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { openApiValidator } from '../helpers/openapi.ts';
import { manifest } from '../helpers/upstream.ts';

let validate: (name: string, body: unknown) => void;
let store: TestStore;
let bridge: TestBridge;
const tokens: Record<'owner' | 'auditor' | 'alice' | 'bob', string> = { owner: '', auditor: '', alice: '', bob: '' };
const ids: Record<'owner' | 'alice' | 'bob', string> = { owner: '', alice: '', bob: '' };

const T0 = Date.parse('2025-03-01T12:00:00Z');
const at = (minutes: number) => new Date(T0 + minutes * 60_000);
const TIE = at(-24 * 60);
const TIES = 25;
/** Named rows, so tests read as the filters they check. */
const row: Record<string, InterceptionRecord> = {};

function interception(
  name: string,
  initiator: string,
  started: Date,
  fields: Partial<InterceptionRecord> = {},
): InterceptionRecord {
  const doc: InterceptionRecord = {
    _id: randomUUID(),
    initiator_id: initiator,
    api_key_id: randomUUID(),
    provider: 'openai',
    provider_name: 'openai',
    model: 'gpt-5',
    client: 'Codex',
    user_agent: 'codex_cli_rs/0.170.0',
    client_session_id: null,
    started_at: started,
    ended_at: new Date(started.getTime() + 5_000),
    status: 'completed',
    cost_usd: null,
    totals: null,
    metadata: {},
    ...fields,
  };
  row[name] = doc;
  return doc;
}

async function seed(): Promise<void> {
  const docs = [
    interception('aliceClaude', ids.alice, at(60), {
      provider: 'anthropic',
      provider_name: 'anthropic',
      model: 'claude-sonnet-4',
      client: 'Claude Code',
      metadata: { streaming: true },
    }),
    interception('aliceCodex', ids.alice, at(120)),
    interception('bobRunning', ids.bob, at(180), { provider_name: 'openai-eu', ended_at: null, status: null }),
    interception('bobClaude', ids.bob, at(240), {
      provider: 'anthropic',
      provider_name: 'anthropic',
      model: 'claude-haiku',
      client: 'Claude Code',
      status: 'failed',
    }),
    interception('ownerZed', ids.owner, at(300), { model: 'gpt-4o', client: 'Zed' }),
  ];
  for (let i = 0; i < TIES; i++)
    docs.push(interception(`tie${i}`, ids.alice, TIE, { model: 'tie-model', client: 'Unknown' }));
  await store.records.write(docs.map((doc) => ({ kind: 'interception' as const, doc })));

  const parent = row.aliceClaude!;
  const child = (minute: number) => ({ interception_id: parent._id, created_at: at(60 + minute) });
  // Inserted out of order: the API must return children in created_at order.
  const usages: TokenUsageRecord[] = [2, 1].map((m) => ({
    _id: `tu-${m}`,
    ...child(m),
    provider_response_id: `msg_${m}`,
    input_tokens: 100 * m,
    output_tokens: 10 * m,
    cache_read_input_tokens: m,
    cache_write_input_tokens: 0,
    cost_usd: null,
    metadata: { web_search_requests: m },
  }));
  const prompts: UserPromptRecord[] = [
    { _id: 'up-1', ...child(0), provider_response_id: 'msg_1', prompt: 'fix the "flaky" test, please' },
  ];
  const tools: ToolUsageRecord[] = [2, 1].map((m) => ({
    _id: `tool-${m}`,
    ...child(m),
    provider_response_id: `msg_${m}`,
    tool_call_id: `toolu_${m}`,
    server_url: m === 1 ? 'http://mcp.local/mcp' : null,
    tool: m === 1 ? 'search_issues' : 'Bash',
    input: JSON.stringify({ n: m }),
    injected: m === 1,
    invocation_error: m === 1 ? null : 'exit 1',
    output: null,
    duration_ms: null,
    metadata: {},
  }));
  // A child of another interception must never leak into this one.
  const other: UserPromptRecord = {
    _id: 'up-other',
    interception_id: row.bobClaude!._id,
    provider_response_id: null,
    prompt: 'hello',
    created_at: at(241),
  };
  await store.records.write([
    ...usages.map((doc) => ({ kind: 'token_usage' as const, doc })),
    ...prompts.map((doc) => ({ kind: 'user_prompt' as const, doc })),
    ...tools.map((doc) => ({ kind: 'tool_usage' as const, doc })),
    { kind: 'user_prompt', doc: other },
  ]);
}

beforeAll(async () => {
  store = await testStore('embedded', 'audit-api');
  bridge = await startTestBridge(store);
  validate = await openApiValidator(bridge.url);
  const owner = await bridge.user('olivia', 'owner');
  const auditor = await bridge.user('audrey', 'auditor');
  const alice = await bridge.user('alice', 'member');
  const bob = await bridge.user('bob', 'member');
  Object.assign(tokens, { owner: owner.token, auditor: auditor.token, alice: alice.token, bob: bob.token });
  Object.assign(ids, { owner: owner.id, alice: alice.id, bob: bob.id });
  await seed();
});
afterAll(async () => {
  await bridge?.close();
  await store?.close();
});

interface Answer {
  status: number;
  body: any;
}

/** GETs an audit path and checks the body against the schema its status and path promise. */
async function get(path: string, token: string | undefined, header = 'authorization'): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (token !== undefined) headers[header] = header === 'authorization' ? `Bearer ${token}` : token;
  const response = await fetch(`${bridge.url}/api/v2/aibridge${path}`, { headers });
  const body = await response.json();
  const schema =
    response.status !== 200
      ? 'Error'
      : path.startsWith('/interceptions?') || path === '/interceptions'
        ? 'InterceptionList'
        : path.startsWith('/interceptions/')
          ? 'Interception'
          : undefined;
  if (schema) validate(schema, body);
  return { status: response.status, body };
}

const list = async (query: string, token = tokens.owner): Promise<ApiList> => {
  const { status, body } = await get(`/interceptions?${query}`, token);
  expect(status, JSON.stringify(body)).toBe(200);
  return body as ApiList;
};
const q = (text: string, extra = '') => `q=${encodeURIComponent(text)}${extra}`;
const idsOf = (page: ApiList) => page.results.map((r) => r.id);
const names = (page: ApiList) => page.results.map((r) => Object.keys(row).find((n) => row[n]!._id === r.id));

/** The order the API promises: started_at desc, then id desc. */
const expectedOrder = (docs: InterceptionRecord[]) =>
  [...docs]
    .sort((a, b) => b.started_at.getTime() - a.started_at.getTime() || (a._id < b._id ? 1 : a._id > b._id ? -1 : 0))
    .map((d) => d._id);
const all = () => Object.values(row);

describe('authentication', () => {
  it('answers 401 without a token or with an unknown one', async () => {
    for (const path of ['/interceptions', `/interceptions/${randomUUID()}`, '/models', '/clients']) {
      const none = await get(path, undefined);
      expect(none.status).toBe(401);
      expect(none.body.message).toMatch(/token/);
      expect((await get(path, 'aib_not-a-token')).status).toBe(401);
    }
  });

  it('accepts Authorization: Bearer, Coder-Session-Token and X-Api-Key', async () => {
    for (const header of ['authorization', 'coder-session-token', 'x-api-key']) {
      const { status, body } = await get(`/interceptions?${q('initiator:me')}`, tokens.alice, header);
      expect(status, header).toBe(200);
      expect(body.count).toBe(2 + TIES);
    }
  });
});

describe('listing', () => {
  it('returns everything, newest first, with ids descending among equal times', async () => {
    const page = await list('limit=1000');
    expect(page.count).toBe(all().length);
    expect(idsOf(page)).toEqual(expectedOrder(all()));
  });

  it('defaults to 100 per page and counts every match', async () => {
    const page = await list('');
    expect(page.results).toHaveLength(all().length);
    const one = await list('limit=1');
    expect(one.results).toHaveLength(1);
    expect(one.count).toBe(all().length);
  });

  it('shows an interception with its initiator and children exactly', async () => {
    const [found] = (await list(q('client:"Claude Code" initiator:alice'))).results;
    const r = row.aliceClaude!;
    // Each record's place in the tamper-evident chain (README "Tamper evidence").
    const place = { chain: expect.any(String), seq: expect.any(Number), hash: expect.stringMatching(/^[0-9a-f]{64}$/) };
    expect(found).toEqual({
      ...place,
      id: r._id,
      initiator: { id: ids.alice, username: 'alice', name: 'alice' },
      api_key_id: r.api_key_id,
      provider: 'anthropic',
      provider_name: 'anthropic',
      model: 'claude-sonnet-4',
      client: 'Claude Code',
      status: 'completed',
      client_session_id: null,
      user_agent: 'codex_cli_rs/0.170.0',
      cost_usd: null,
      metadata: { streaming: true },
      model_thoughts: [],
      started_at: '2025-03-01T13:00:00.000Z',
      ended_at: '2025-03-01T13:00:05.000Z',
      token_usages: [1, 2].map((m) => ({
        id: `tu-${m}`,
        interception_id: r._id,
        provider_response_id: `msg_${m}`,
        input_tokens: 100 * m,
        output_tokens: 10 * m,
        cache_read_input_tokens: m,
        cache_write_input_tokens: 0,
        total_input_tokens: 100 * m + m,
        cost_usd: null,
        metadata: { web_search_requests: m },
        created_at: at(60 + m).toISOString(),
        ...place,
      })),
      user_prompts: [
        {
          id: 'up-1',
          interception_id: r._id,
          provider_response_id: 'msg_1',
          prompt: 'fix the "flaky" test, please',
          created_at: at(60).toISOString(),
          ...place,
        },
      ],
      tool_usages: [1, 2].map((m) => ({
        id: `tool-${m}`,
        interception_id: r._id,
        provider_response_id: `msg_${m}`,
        tool_call_id: `toolu_${m}`,
        server_url: m === 1 ? 'http://mcp.local/mcp' : null,
        tool: m === 1 ? 'search_issues' : 'Bash',
        input: JSON.stringify({ n: m }),
        injected: m === 1,
        invocation_error: m === 1 ? null : 'exit 1',
        output: null,
        duration_ms: null,
        metadata: {},
        created_at: at(60 + m).toISOString(),
        // A client tool's result fields, null until one comes (always null for an injected call).
        is_error: null,
        result_at: null,
        result_interception_id: null,
        ...place,
      })),
      annotations: [],
      work: null,
    });
  });

  it('includes running interceptions with ended_at null', async () => {
    const [running] = (await list(q('provider_name:openai-eu'))).results;
    expect(running).toMatchObject({ id: row.bobRunning!._id, ended_at: null, status: null });
    expect(running?.user_prompts).toEqual([]);
  });
});

describe('filters', () => {
  const cases: Array<[string, (r: InterceptionRecord) => boolean]> = [
    ['provider:anthropic', (r) => r.provider === 'anthropic'],
    ['provider:openai', (r) => r.provider === 'openai'],
    ['provider_name:openai-eu', (r) => r.provider_name === 'openai-eu'],
    ['model:gpt-5', (r) => r.model === 'gpt-5'],
    ['client:"Claude Code"', (r) => r.client === 'Claude Code'],
    ['client:Zed', (r) => r.client === 'Zed'],
    ['initiator:bob', (r) => r.initiator_id === ids.bob],
    ['bob', (r) => r.initiator_id === ids.bob],
    ['initiator:me', (r) => r.initiator_id === ids.owner],
    ['started_after:2025-03-01T14:30:00Z', (r) => r.started_at > at(150)],
    ['started_after:2025-03-01T14:00:00Z', (r) => r.started_at > at(120)], // strictly after
    ['started_before:"2025-03-01T13:30:00Z"', (r) => r.started_at < at(90)],
    ['started_before:2025-03-01T14:00:00+01:00', (r) => r.started_at < at(60)],
    ['provider:openai client:Codex initiator:alice', (r) => r === row.aliceCodex],
    ['provider:anthropic model:claude-haiku', (r) => r === row.bobClaude],
    [
      'started_after:2025-03-01T12:30:00Z started_before:2025-03-01T15:30:00Z provider:openai',
      (r) => r.started_at > at(30) && r.started_at < at(210) && r.provider === 'openai',
    ],
    ['model:nothing-like-this', () => false],
  ];
  for (const [text, matches] of cases) {
    it(text, async () => {
      const page = await list(q(text, '&limit=1000'));
      const expected = expectedOrder(all().filter(matches));
      expect(idsOf(page)).toEqual(expected);
      expect(page.count).toBe(expected.length);
    });
  }

  it('finds the initiator by user id too', async () => {
    const page = await list(q(`initiator:${ids.bob}`));
    expect(names(page)).toEqual(['bobClaude', 'bobRunning']);
  });
});

describe('paging', () => {
  it('walks rows with equal started_at by after_id, each exactly once, in order', async () => {
    const seen: string[] = [];
    let after = '';
    for (let pages = 0; pages < 10; pages++) {
      const page = await list(q('model:tie-model', `&limit=7${after ? `&after_id=${after}` : ''}`));
      expect(page.count).toBe(TIES);
      seen.push(...idsOf(page));
      if (page.results.length < 7) break;
      after = page.results.at(-1)!.id;
    }
    const ties = all().filter((r) => r.model === 'tie-model');
    expect(seen).toEqual(expectedOrder(ties));
    expect(new Set(seen).size).toBe(TIES);
  });

  it('walks the whole set across the tie boundary', async () => {
    const seen: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await list(`limit=4${after ? `&after_id=${after}` : ''}`);
      expect(page.count).toBe(all().length);
      seen.push(...idsOf(page));
      if (page.results.length < 4) break;
      after = page.results.at(-1)!.id;
    }
    expect(seen).toEqual(expectedOrder(all()));
  });

  it('pages by offset, count ignoring it', async () => {
    const order = expectedOrder(all());
    const page = await list('offset=3&limit=5');
    expect(idsOf(page)).toEqual(order.slice(3, 8));
    expect(page.count).toBe(order.length);
    expect((await list(`offset=${order.length}`)).results).toEqual([]);
  });

  it('returns an empty page after the last row', async () => {
    const order = expectedOrder(all());
    const page = await list(`after_id=${order.at(-1)}`);
    expect(page).toEqual({ count: order.length, results: [] });
  });
});

describe('validation', () => {
  const cases: Array<[string, string, RegExp]> = [
    [q('colour:blue'), 'q', /unknown key "colour"/],
    [q(':blue'), 'q', /empty key/],
    [q('provider:'), 'provider', /empty value/],
    [q('model:gpt:5'), 'q', /more than one ":"/],
    [q('client:"Claude Code'), 'q', /unterminated/],
    [q('started_after:yesterday'), 'started_after', /RFC 3339/],
    [q('started_before:2025-02-30T00:00:00Z'), 'started_before', /RFC 3339/],
    [q('started_after:2025-03-02T00:00:00Z started_before:2025-03-01T00:00:00Z'), 'started_before', /later/],
    [q('initiator:nobody'), 'initiator', /no user "nobody"/],
    [q('provider:openai provider:anthropic'), 'provider', /more than once/],
    ['limit=0', 'limit', /1 to 1000/],
    ['limit=1001', 'limit', /1 to 1000/],
    ['limit=ten', 'limit', /1 to 1000/],
    ['limit=1.5', 'limit', /1 to 1000/],
    ['offset=-1', 'offset', /integer/],
    ['limit=1&limit=2', 'limit', /once/],
    [`after_id=${randomUUID()}&offset=2`, 'after_id', /offset/],
    [`after_id=${randomUUID()}`, 'after_id', /no interception/],
  ];
  for (const [query, field, detail] of cases) {
    it(`${decodeURIComponent(query)} → 400 on ${field}`, async () => {
      const { status, body } = await get(`/interceptions?${query}`, tokens.owner);
      expect(status).toBe(400);
      expect(body.message).toBeTruthy();
      expect(body.validations).toEqual(expect.arrayContaining([{ field, detail: expect.stringMatching(detail) }]));
    });
  }

  it('rejects an after_id the caller may not see as unknown', async () => {
    const { status, body } = await get(`/interceptions?after_id=${row.bobClaude!._id}`, tokens.alice);
    expect(status).toBe(400);
    expect(body.validations[0].field).toBe('after_id');
  });
});

describe('visibility', () => {
  const aliceRows = () => all().filter((r) => r.initiator_id === ids.alice);

  it('shows a member only their own interceptions, however they ask', async () => {
    for (const text of ['', 'initiator:me', 'initiator:alice', `initiator:${ids.alice}`, 'alice']) {
      const page = await list(`${q(text)}&limit=1000`, tokens.alice);
      expect(idsOf(page), text).toEqual(expectedOrder(aliceRows()));
      expect(page.count).toBe(aliceRows().length);
    }
    const filtered = await list(q('provider:anthropic'), tokens.alice);
    expect(names(filtered)).toEqual(['aliceClaude']);
  });

  it('forbids a member to ask for anyone else, existing or not', async () => {
    for (const text of ['initiator:bob', `initiator:${ids.bob}`, 'bob', 'initiator:nobody']) {
      const { status, body } = await get(`/interceptions?${q(text)}`, tokens.alice);
      expect(status, text).toBe(403);
      expect(body.message).toMatch(/own/);
    }
  });

  it('lets auditors and owners see everyone and filter by anyone', async () => {
    for (const token of [tokens.auditor, tokens.owner]) {
      expect((await list('', token)).count).toBe(all().length);
      expect(names(await list(q('initiator:bob'), token))).toEqual(['bobClaude', 'bobRunning']);
    }
    // An auditor with no interceptions of their own gets an empty page for "me".
    expect(await list(q('initiator:me'), tokens.auditor)).toEqual({ count: 0, results: [] });
  });

  it('gets one interception by id, 404 when missing or not the caller’s', async () => {
    const bobs = row.bobClaude!._id;
    const asOwner = await get(`/interceptions/${bobs}`, tokens.owner);
    expect(asOwner.status).toBe(200);
    expect(asOwner.body).toMatchObject({ id: bobs, status: 'failed', initiator: { username: 'bob' } });
    expect(asOwner.body.user_prompts.map((p: { id: string }) => p.id)).toEqual(['up-other']);
    expect((await get(`/interceptions/${bobs}`, tokens.auditor)).status).toBe(200);
    expect((await get(`/interceptions/${bobs}`, tokens.bob)).status).toBe(200);
    expect((await get(`/interceptions/${bobs}`, tokens.alice)).status).toBe(404);
    expect((await get(`/interceptions/${randomUUID()}`, tokens.owner)).status).toBe(404);
    const own = await get(`/interceptions/${row.aliceClaude!._id}`, tokens.alice);
    expect(own.status).toBe(200);
    expect(own.body.token_usages).toHaveLength(2);
  });

  it('lists distinct models and clients within what the caller may see, as every list: results and count', async () => {
    const values = async (path: string, token: string) => {
      const { status, body } = await get(path, token);
      expect(status).toBe(200);
      expect(body.count).toBe(body.results.length);
      return body.results;
    };
    expect(await values('/models', tokens.owner)).toEqual([
      'claude-haiku',
      'claude-sonnet-4',
      'gpt-4o',
      'gpt-5',
      'tie-model',
    ]);
    expect(await values('/clients', tokens.auditor)).toEqual(['Claude Code', 'Codex', 'Unknown', 'Zed']);
    expect(await values('/models', tokens.alice)).toEqual(['claude-sonnet-4', 'gpt-5', 'tie-model']);
    expect(await values('/clients', tokens.bob)).toEqual(['Claude Code', 'Codex']);
    expect(await values(`/models?${q('provider:anthropic')}`, tokens.owner)).toEqual([
      'claude-haiku',
      'claude-sonnet-4',
    ]);
    expect((await get(`/clients?${q('initiator:alice')}`, tokens.bob)).status).toBe(403);
    expect((await get(`/models?${q('nope:x')}`, tokens.owner)).status).toBe(400);
  });
});

describe('end to end, on records the bridge wrote itself', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness('audit-api-e2e');
  });
  afterAll(() => h?.close());

  it('shows a real Claude Code request to its initiator (the curl of the docs)', async () => {
    h.upstream.enqueue('anthropic-messages/client-tool.sse');
    await h.anthropic.messages
      .stream(
        { model: 'claude-test-1', max_tokens: 256, messages: [{ role: 'user', content: 'Weather in Paris?' }] },
        { headers: { 'user-agent': 'claude-cli/2.1.3 (external, cli)' } },
      )
      .finalMessage();
    const recorded = await h.records();
    const facts = manifest()['anthropic-messages/client-tool.sse']!;

    // curl -H "Coder-Session-Token: $TOKEN" "$URL/api/v2/aibridge/interceptions?q=initiator:me"
    const response = await fetch(`${h.bridge.url}/api/v2/aibridge/interceptions?q=initiator:me`, {
      headers: { 'Coder-Session-Token': h.token },
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as ApiList;
    (await openApiValidator(h.bridge.url))('InterceptionList', body);
    expect(body.count).toBe(1);
    const [found] = body.results;
    expect(found).toMatchObject({
      id: recorded.interception._id,
      initiator: { id: h.userId, username: 'dev' },
      api_key_id: h.apiKeyId,
      provider: 'anthropic',
      provider_name: 'anthropic',
      model: 'claude-test-1',
      client: 'Claude Code',
      status: 'completed',
      started_at: recorded.interception.started_at.toISOString(),
      ended_at: recorded.interception.ended_at.toISOString(),
    });
    expect(found?.user_prompts.map((p) => p.prompt)).toEqual(['Weather in Paris?']);
    expect(found?.token_usages).toEqual([
      expect.objectContaining({ ...facts.usage, provider_response_id: facts.response_id }),
    ]);
    expect(found?.tool_usages).toEqual([
      expect.objectContaining({ tool: 'get_weather', injected: false, tool_call_id: facts.tool_calls[0]!.id }),
    ]);

    // The tool summary the console's overview shows.
    const tools = await fetch(`${h.bridge.url}/api/v2/aibridge/tools?q=initiator:me`, {
      headers: { authorization: `Bearer ${h.token}` },
    }).then((r) => r.json());
    (await openApiValidator(h.bridge.url))('ToolList', tools);
    expect(tools).toEqual({
      count: 1,
      results: [
        {
          tool: 'get_weather',
          server_url: null,
          server: null,
          injected: false,
          calls: 1,
          failed: 0,
          mean_duration_ms: null,
        },
      ],
    });
  });
});
