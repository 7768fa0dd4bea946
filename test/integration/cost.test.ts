/**
 * README "Cost and budgets" end to end, on both stores, through the official SDKs: cost on every token usage
 * and interception (checked against figures computed by hand), the usage summaries of the
 * API and CLI, and budgets that refuse model requests with 429 in the provider's format.
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { STORE_KINDS } from '../helpers/db.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { startTestMcpServer, type TestMcpServer } from '../helpers/mcp-server.ts';
import { runCli } from '../helpers/process.ts';
import { scrapeMetrics } from '../helpers/prometheus.ts';

/** USD per million tokens for the test models (globs, as an operator would write them). */
const PRICING = [
  { model: 'claude-test-*', input: 3, output: 15, cache_read: 0.3, cache_write: 3.75, cache_write_1h: 6 },
  { model: 'gpt-test-*', input: 1.25, output: 10, cache_read: 0.125 },
];
// Hand-computed from the fixtures' usage (fixtures/manifest.json) and the prices above:
// anthropic-messages/cached: 6 in, 37 out, 18 234 cache read, 1 402 cache write (5 min)
const ANTHROPIC_CACHED = (6 * 3 + 37 * 15 + 18_234 * 0.3 + 1_402 * 3.75) / 1e6; // 0.0113007
// openai-chat/cached: 86 uncached in, 24 out, 1 920 cached in
const CHAT_CACHED = (86 * 1.25 + 24 * 10 + 1_920 * 0.125) / 1e6; // 0.0005875
// openai-responses/cached: 84 uncached in, 29 out, 3 328 cached in
const RESPONSES_CACHED = (84 * 1.25 + 29 * 10 + 3_328 * 0.125) / 1e6; // 0.000811
// a two-call tool loop: injected-tool (437 in, 64 out) then after-tool (541 in, 15 out)
const LOOP_CALLS = [(437 * 3 + 64 * 15) / 1e6, (541 * 3 + 15 * 15) / 1e6]; // 0.002271 + 0.001848

describe.each(STORE_KINDS)('cost, usage and budgets (%s store)', (kind) => {
  let h: Harness;
  let mcp: TestMcpServer;
  beforeAll(async () => {
    mcp = await startTestMcpServer({ extraTools: 0 });
    h = await startHarness(
      `cost-${kind}`,
      {
        pricing: PRICING,
        // Unpriced models are let through here, to be recorded with a null cost; refusing them is the default.
        budgets: { member: { usd: 0.025, period: 'day' }, unpriced: 'allow' },
        mcp_servers: [{ name: 'test', url: mcp.url, tool_allow_regex: '^echo$' }],
      },
      kind,
    );
  });
  afterAll(async () => {
    await h?.close();
    await mcp?.stop();
  });
  beforeEach(() => h.upstream.reset());

  const claude = { model: 'claude-test-1', max_tokens: 256, messages: [{ role: 'user' as const, content: 'hi' }] };

  it('prices each API’s usage, cache reads and writes included, and sums an interception', async () => {
    h.upstream.enqueue('anthropic-messages/cached.json');
    await h.anthropic.messages.create(claude);
    let r = await h.records();
    expect(r.tokens[0]?.cost_usd).toBeCloseTo(ANTHROPIC_CACHED, 9);
    expect(r.interception.cost_usd).toBeCloseTo(ANTHROPIC_CACHED, 9);

    h.upstream.enqueue('openai-chat/cached.json');
    // A budget reserves the output a request allows: these say how much, as a careful client does.
    await h.openai.chat.completions.create({
      model: 'gpt-test-1',
      max_completion_tokens: 64,
      messages: [{ role: 'user', content: 'hi' }],
    });
    r = await h.records();
    expect(r.interception.cost_usd).toBeCloseTo(CHAT_CACHED, 9);

    h.upstream.enqueue('openai-responses/cached.json');
    await h.openai.responses.create({ model: 'gpt-test-1', max_output_tokens: 64, input: 'hi' });
    r = await h.records();
    expect(r.interception.cost_usd).toBeCloseTo(RESPONSES_CACHED, 9);

    h.upstream.enqueue('anthropic-messages/injected-tool.json', 'anthropic-messages/after-tool.json');
    await h.anthropic.messages.create(claude);
    r = await h.records();
    expect(r.tokens.map((t) => t.cost_usd)).toEqual([
      expect.closeTo(LOOP_CALLS[0]!, 9),
      expect.closeTo(LOOP_CALLS[1]!, 9),
    ]);
    expect(r.interception.cost_usd).toBeCloseTo(LOOP_CALLS[0]! + LOOP_CALLS[1]!, 9);
    expect(r.interception.totals).toMatchObject({ input_tokens: 978, output_tokens: 79, tool_calls: 1 });
  });

  it('records null (never 0) for a model without a price, and counts its tokens as unpriced', async () => {
    h.upstream.enqueue('anthropic-messages/text.json');
    await h.anthropic.messages.create({ ...claude, model: 'mystery-model-9' });
    const r = await h.records();
    expect(r.tokens[0]?.cost_usd).toBeNull();
    expect(r.interception.cost_usd).toBeNull();
    const metrics = await scrapeMetrics(h.bridge.url);
    expect(metrics.value('aibridge_unpriced_tokens_total', { model: 'mystery-model-9' })).toBe(24);
    expect(metrics.value('aibridge_cost_usd_total', { model: 'claude-test-1' })).toBeGreaterThan(0);
  });

  it('shows cost in the audit API and the CLI export, and sums usage by model and day in the store', async () => {
    const api = (path: string) =>
      fetch(`${h.bridge.url}/api/v2/aibridge${path}`, { headers: { authorization: `Bearer ${h.token}` } }).then((r) =>
        r.json(),
      );
    const page = await api('/interceptions?limit=10');
    expect(page.results.map((r: { cost_usd: number | null }) => r.cost_usd)).toContainEqual(
      expect.closeTo(ANTHROPIC_CACHED, 9),
    );
    const usage = await api('/usage?group_by=model');
    const byModel = Object.fromEntries(usage.groups.map((g: { key: { model: string } }) => [g.key.model, g]));
    expect(byModel['claude-test-1']).toMatchObject({
      interceptions: 2,
      cost_usd: expect.closeTo(ANTHROPIC_CACHED + LOOP_CALLS[0]! + LOOP_CALLS[1]!, 9),
      tool_calls: 1,
    });
    expect(byModel['gpt-test-1']).toMatchObject({
      interceptions: 2,
      cost_usd: expect.closeTo(CHAT_CACHED + RESPONSES_CACHED, 9),
    });
    expect(byModel['mystery-model-9']).toMatchObject({ interceptions: 1, cost_usd: null });
    const byDay = await api('/usage?group_by=initiator,day');
    expect(byDay.groups).toEqual([
      expect.objectContaining({
        key: {
          initiator: { id: h.userId, username: 'dev', name: 'dev', deleted: false },
          day: new Date().toISOString().slice(0, 10),
        },
        interceptions: 5,
      }),
    ]);
    // Sums are shown as costs are stored, to a billionth of a dollar: no float noise (0.0037665000000000003).
    const sessions = await api('/sessions');
    const spend = await api('/users/me/spend');
    const costs = [...usage.groups, ...byDay.groups, ...sessions.results].map(
      (g: { cost_usd: number | null }) => g.cost_usd,
    );
    for (const usd of [...costs, spend.spent_usd].filter((c) => c !== null))
      expect(String(usd), 'a cost with more than 9 decimals').toMatch(/^\d+(\.\d{1,9})?$/);
    // Input is every prompt token the model read, with its parts beside it.
    for (const g of [...usage.groups, ...sessions.results])
      expect(g.total_input_tokens).toBe(g.input_tokens + g.cache_read_input_tokens + g.cache_write_input_tokens);
    expect(byModel['claude-test-1'].total_input_tokens).toBeGreaterThan(byModel['claude-test-1'].input_tokens);

    const env = { AIBRIDGE_URL: h.bridge.url, AIBRIDGE_SESSION_TOKEN: h.token };
    const csv = await runCli(['interceptions', 'list', '--format', 'csv', '--limit', '10'], env);
    expect(csv.code, csv.stderr).toBe(0);
    expect(csv.stdout.split('\r\n')[0]).toContain('cost_usd');
    const table = await runCli(['usage', '--group-by', 'model', '--since', '1d'], env);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/MODEL\s+INTERCEPTIONS/);
    expect(table.stdout).toMatch(/gpt-test-1\s+2\s/);
    const json = await runCli(['usage', '--group-by', 'model', '-o', 'json'], env);
    expect(JSON.parse(json.stdout).groups).toHaveLength(3);
  });

  it('refuses a member over budget with 429 in the provider’s format, until an owner raises it', async () => {
    // The day's spend so far (≈ $0.0168) leaves room for what one more call may cost (≈ $0.004:
    // its 256 output tokens, its small body); it is sent, and its usage (a large cache read the
    // tiny body could not have carried: the estimate's blind spot) passes the $0.025 budget.
    h.upstream.setDefault('anthropic-messages/cached.json');
    await h.anthropic.messages.create(claude);
    await h.records();

    const refused = await h.anthropic.messages.create(claude).catch((err) => err);
    expect(refused).toBeInstanceOf(Anthropic.RateLimitError);
    expect(refused.message).toMatch(/budget of \$0\.025\/day reached for dev \(\$0\.03 spent\); it resets at /);
    expect(Number(refused.headers?.get('retry-after'))).toBeGreaterThan(0);
    const openaiRefused = await h.openai.chat.completions
      .create({ model: 'gpt-test-1', messages: [{ role: 'user', content: 'hi' }] })
      .catch((err) => err);
    expect(openaiRefused).toBeInstanceOf(OpenAI.RateLimitError);
    // Reads the provider offers as they are (passthrough) are not blocked.
    h.upstream.enqueue('anthropic-passthrough/models.json');
    expect((await h.anthropic.models.list()).data.length).toBeGreaterThan(0);
    const metrics = await scrapeMetrics(h.bridge.url);
    expect(metrics.value('aibridge_budget_rejections_total')).toBe(2);

    const owner = await h.bridge.user('budget-owner', 'owner');
    const patched = await fetch(`${h.bridge.url}/api/v2/aibridge/users/dev`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${owner.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ budget: { usd: 5, period: 'month' } }),
    });
    expect(patched.status).toBe(200);
    const spend = await fetch(`${h.bridge.url}/api/v2/aibridge/users/me/spend`, {
      headers: { authorization: `Bearer ${h.token}` },
    }).then((r) => r.json());
    expect(spend).toMatchObject({ budget: { usd: 5, period: 'month' }, spent_usd: expect.any(Number) });
    await h.anthropic.messages.create(claude); // allowed again
  });
});
