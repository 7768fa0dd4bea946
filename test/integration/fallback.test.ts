import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FakeBedrock, TEST_AWS_KEY } from '../helpers/fake-bedrock.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { startTestMcpServer, type TestMcpServer } from '../helpers/mcp-server.ts';
import { scrapeMetrics } from '../helpers/prometheus.ts';
import { tempDirs } from '../helpers/temp.ts';
import { manifest } from '../helpers/upstream.ts';

/**
 * Aliases and fallbacks (README "Aliases and fallbacks") over HTTP: the Anthropic SDK asks for an
 * alias whose first target is an `anthropic` provider that fails, and whose second is a `bedrock`
 * provider behind a fake bedrock-runtime that checks every SigV4 signature as AWS does. An MCP
 * server's tool is injected and run between the two Bedrock calls of the loop.
 */

const facts = manifest();
const CALL_SSE = facts['anthropic-messages/injected-tool.sse']!;
const AFTER_SSE = facts['anthropic-messages/after-tool.sse']!;
const CALL = facts['anthropic-messages/injected-tool.json']!;
const AFTER = facts['anthropic-messages/after-tool.json']!;
const HAIKU = 'claude-haiku-4-5';
const BEDROCK_HAIKU = 'us.anthropic.claude-haiku-4-5-20251001-v1:0';
const newDir = tempDirs('aibridge-fallback-');
const AWS_VARIABLES = ['AWS_SHARED_CREDENTIALS_FILE', 'AWS_CONFIG_FILE', 'AWS_EC2_METADATA_DISABLED'];
const savedEnv = Object.fromEntries(AWS_VARIABLES.map((name) => [name, process.env[name]]));

let h: Harness;
let fake: FakeBedrock;
let mcp: TestMcpServer;
let client: Anthropic;

beforeAll(async () => {
  const empty = join(newDir(), 'empty');
  writeFileSync(empty, '');
  process.env.AWS_SHARED_CREDENTIALS_FILE = empty;
  process.env.AWS_CONFIG_FILE = empty;
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
  fake = await FakeBedrock.start({ region: 'us-east-1' });
  mcp = await startTestMcpServer({ extraTools: 0 });
  h = await startHarness('fallback', (url) => ({
    providers: [
      { name: 'openai', type: 'openai', base_url: `${url}/v1`, api_key: 'sk-upstream-openai-key' },
      { name: 'anthropic', type: 'anthropic', base_url: url, api_key: 'sk-ant-upstream-key' },
      // Nothing listens there: every call fails to connect.
      { name: 'anthropic-down', type: 'anthropic', base_url: 'http://127.0.0.1:9', api_key: 'sk-ant-other-key' },
      {
        name: 'bedrock',
        type: 'bedrock',
        region: 'us-east-1',
        base_url: fake.url,
        access_key_id: TEST_AWS_KEY.accessKeyId,
        secret_access_key: TEST_AWS_KEY.secretAccessKey,
      },
    ],
    models: [
      {
        alias: 'fast',
        targets: [
          { provider: 'anthropic', model: HAIKU },
          { provider: 'bedrock', model: BEDROCK_HAIKU },
        ],
      },
      {
        alias: 'steady',
        targets: [
          { provider: 'anthropic-down', model: HAIKU },
          { provider: 'bedrock', model: BEDROCK_HAIKU },
        ],
      },
      { alias: 'gpt-fast', targets: [{ provider: 'openai', model: 'gpt-4.1-mini' }] },
    ],
    mcp_servers: [{ name: 'test', url: mcp.url, tool_allow_regex: '^echo$' }],
    tool_loop: { max_iterations: 4, keepalive: '200ms' },
  }));
  client = new Anthropic({ baseURL: `${h.bridge.url}/anthropic`, apiKey: h.token, maxRetries: 0 });
});

afterAll(async () => {
  await h?.close();
  await fake?.close();
  await mcp?.stop();
  for (const [name, value] of Object.entries(savedEnv)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

beforeEach(() => {
  h.upstream.reset();
  fake.reset();
});

const ask = { max_tokens: 512, messages: [{ role: 'user' as const, content: 'Echo something' }] };

/** Both Bedrock calls of the loop: signed by the configured key, Bedrock's body, the tool result in the second. */
function expectSignedBedrockLoop() {
  expect(fake.requests).toHaveLength(2);
  for (const call of fake.requests) {
    expect(call.refused).toBeUndefined();
    expect(call.accessKeyId).toBe(TEST_AWS_KEY.accessKeyId);
    expect(call.modelId).toBe(BEDROCK_HAIKU);
    expect(call.json.anthropic_version).toBe('bedrock-2023-05-31');
    expect(call.json).not.toHaveProperty('model');
    expect(call.json).not.toHaveProperty('stream');
    expect(JSON.stringify(call.headers) + call.body).not.toContain(h.token);
  }
  expect(fake.requests[0]!.json.tools.map((t: any) => t.name)).toEqual(['bmcp_test_echo']);
  expect(JSON.stringify(fake.requests[1]!.json.messages.at(-1))).toContain('hello from the model');
}

describe('an alias with a fallback from anthropic to bedrock', () => {
  it('streaming: the anthropic target is overloaded, bedrock answers and runs the loop; one clean stream, both attempts recorded', async () => {
    h.upstream.enqueue('anthropic-messages/http-529.json');
    fake.enqueue('anthropic-messages/injected-tool.sse', 'anthropic-messages/after-tool.sse');
    const stream = client.messages.stream({ ...ask, model: 'fast' });
    const events: any[] = [];
    stream.on('streamEvent', (e) => events.push(e));
    const message = await stream.finalMessage();
    expect(JSON.stringify(events)).not.toContain('bmcp_');
    expect(events.filter((e) => e.type === 'message_start')).toHaveLength(1);
    const text = message.content.map((c) => (c.type === 'text' ? c.text : '')).join('');
    expect(text).toBe(`${CALL_SSE.text}${AFTER_SSE.text}`);

    // The anthropic target was asked once, for its own model.
    expect(h.upstream.requests).toHaveLength(1);
    expect(h.upstream.requests[0]!.json.model).toBe(HAIKU);
    expect(h.upstream.requests[0]!.headers['x-api-key']).toBe('sk-ant-upstream-key');
    expectSignedBedrockLoop();

    const r = await h.records();
    expect(r.interception).toMatchObject({
      provider: 'bedrock',
      provider_name: 'bedrock',
      model: BEDROCK_HAIKU,
      requested_model: 'fast',
      key_source: 'shared',
      status: 'completed',
      attempts: [
        { provider_name: 'anthropic', model: HAIKU, status: 529, error: 'upstream answered 529' },
        { provider_name: 'bedrock', model: BEDROCK_HAIKU, status: 200, error: null },
      ],
    });
    expect(r.tools).toEqual([expect.objectContaining({ tool: 'echo', injected: true, invocation_error: null })]);
    expect(r.tokens).toHaveLength(2);
    // Priced as the target that answered: Bedrock's regional Haiku 4.5, $1.10 in and $5.50 out per million.
    // (439 × 1.1 + 64 × 5.5) / 1e6 + (543 × 1.1 + 15 × 5.5) / 1e6
    expect(r.interception.cost_usd).toBeCloseTo(0.0015147, 10);

    const scrape = await scrapeMetrics(h.bridge.url);
    expect(
      scrape.value('aibridge_fallbacks_total', {
        alias: 'fast',
        from: `anthropic/${HAIKU}`,
        to: `bedrock/${BEDROCK_HAIKU}`,
        reason: 'server_error',
      }),
    ).toBe(1);
  });

  it('blocking: a target that cannot be reached falls back the same way; the client gets one merged message', async () => {
    fake.enqueue('anthropic-messages/injected-tool.json', 'anthropic-messages/after-tool.json');
    const message = await client.messages.create({ ...ask, model: 'steady' });
    expect(JSON.stringify(message)).not.toContain('bmcp_');
    expect(message.content.map((c) => (c.type === 'text' ? c.text : '')).join('')).toContain(AFTER.text);
    expect(message.usage.output_tokens).toBe(CALL.usage!.output_tokens + AFTER.usage!.output_tokens);
    expectSignedBedrockLoop();
    const r = await h.records();
    expect(r.interception.attempts).toEqual([
      { provider_name: 'anthropic-down', model: HAIKU, status: null, error: 'upstream unreachable' },
      { provider_name: 'bedrock', model: BEDROCK_HAIKU, status: 200, error: null },
    ]);
    const scrape = await scrapeMetrics(h.bridge.url);
    expect(scrape.value('aibridge_fallbacks_total', { alias: 'steady', reason: 'connect_error' })).toBe(1);
  });

  it('a first target that answers keeps the whole loop: no fallback, the model rewritten on every call', async () => {
    h.upstream.enqueue('anthropic-messages/injected-tool.sse', 'anthropic-messages/after-tool.sse');
    const message = await client.messages.stream({ ...ask, model: 'fast' }).finalMessage();
    expect(message.content.map((c) => (c.type === 'text' ? c.text : '')).join('')).toBe(
      `${CALL_SSE.text}${AFTER_SSE.text}`,
    );
    expect(h.upstream.requests.map((r) => r.json.model)).toEqual([HAIKU, HAIKU]);
    expect(fake.requests).toHaveLength(0);
    const r = await h.records();
    expect(r.interception).toMatchObject({
      provider_name: 'anthropic',
      model: HAIKU,
      requested_model: 'fast',
      attempts: [{ provider_name: 'anthropic', model: HAIKU, status: 200, error: null }],
    });
  });

  it('every target failing: the last one’s refusal reaches the client in its own provider’s format', async () => {
    h.upstream.enqueue('anthropic-messages/http-529.json');
    fake.enqueue({ error: 'ThrottlingException', status: 429, message: 'Too many requests, account 123456789012' });
    const err = await client.messages.create({ ...ask, model: 'fast' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.RateLimitError);
    // Another cloud's words stay in the log: they may name its account.
    expect((err as Error).message).not.toContain('123456789012');
    expect((err as Error).message).toMatch(/provider "bedrock" answered 429/);
    const r = await h.records();
    expect(r.interception.status).toBe('failed');
    expect(r.interception.attempts).toEqual([
      { provider_name: 'anthropic', model: HAIKU, status: 529, error: 'upstream answered 529' },
      { provider_name: 'bedrock', model: BEDROCK_HAIKU, status: 429, error: 'upstream answered 429' },
    ]);
  });
});

describe('budgets through a fallback', () => {
  it('an attempt that failed releases its reservation: a budget that holds one call serves the fallback', async () => {
    // Each attempt reserves about $0.021–0.023 (4 000 output tokens at $5–5.50 a million): $0.03
    // holds one of them, not both at once.
    const user = await h.bridge.user('budgeted');
    await h.bridge.ctx.users.setBudget('budgeted', { usd: 0.03, period: 'day' });
    const budgeted = new Anthropic({ baseURL: `${h.bridge.url}/anthropic`, apiKey: user.token, maxRetries: 0 });
    h.upstream.enqueue('anthropic-messages/http-529.json');
    fake.enqueue('anthropic-messages/text.sse');
    const message = await budgeted.messages
      .stream({ max_tokens: 4_000, messages: [{ role: 'user', content: 'Say hello' }], model: 'fast' })
      .finalMessage();
    expect(message.content[0]).toMatchObject({ type: 'text' });
    const r = await h.records();
    expect(r.interception.attempts.map((a: { status: number }) => a.status)).toEqual([529, 200]);
    expect(r.interception.cost_usd).toBeGreaterThan(0);
  });
});

describe('aliases in the models lists', () => {
  it("a provider's models list shows the aliases of its API family after its own models", async () => {
    h.upstream.enqueue('anthropic-passthrough/models.json', 'openai-passthrough/models.json');
    const anthropicIds: string[] = [];
    for await (const model of client.models.list()) anthropicIds.push(model.id);
    expect(anthropicIds.slice(-2)).toEqual(['fast', 'steady']);
    expect(anthropicIds).not.toContain('gpt-fast');
    const openaiIds = (await h.openai.models.list()).data.map((m) => m.id);
    expect(openaiIds.at(-1)).toBe('gpt-fast');
    expect(openaiIds).not.toContain('fast');
  });

  it('an alias is described by the bridge itself; the upstream is not asked', async () => {
    const model = await client.models.retrieve('fast');
    expect(model).toMatchObject({ type: 'model', id: 'fast', display_name: 'fast' });
    expect((await h.openai.models.retrieve('gpt-fast')).id).toBe('gpt-fast');
    expect(h.upstream.requests).toHaveLength(0);
  });
});
