/**
 * Budgets that hold under pressure (README "Cost and budgets"): 60 requests at once against a
 * budget of two calls, on every bridged route and shape, on both stores; the spend at the end is
 * at most the budget plus what the calls in flight spent beyond their estimates — none here,
 * since every fixture's usage is within its request's `max_tokens`. Also: a model with no price
 * is refused to a budgeted user, and a compaction is recorded and costed.
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORE_KINDS } from '../helpers/db.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { startTestMcpServer, type TestMcpServer } from '../helpers/mcp-server.ts';
import { waitUntil } from '../helpers/process.ts';

/** $0.15 per output token, nothing for input: a call's cost is its output tokens × 0.15. */
const PRICING = [
  { model: 'gpt-test-*', input: 0, output: 150_000 },
  { model: 'claude-test-*', input: 0, output: 150_000 },
];
const PER_TOKEN = 0.15;

interface Shape {
  name: string;
  /** Output tokens a request allows: its reservation is this × $0.15. */
  maxTokens: number;
  /** Upstream calls one request makes, and fixtures for them. */
  fixtures: string[];
  send(h: Harness, i: number): Promise<unknown>;
}

const hi = (i: number) => `hello ${i}`;
const SHAPES: Shape[] = [
  {
    name: 'chat, blocking',
    maxTokens: 12,
    fixtures: ['openai-chat/text.json'],
    send: (h, i) =>
      h.openai.chat.completions.create({
        model: 'gpt-test-1',
        max_completion_tokens: 12,
        messages: [{ role: 'user', content: hi(i) }],
      }),
  },
  {
    name: 'chat, streaming',
    maxTokens: 12,
    fixtures: ['openai-chat/text.sse'],
    send: async (h, i) => {
      const stream = await h.openai.chat.completions.create({
        model: 'gpt-test-1',
        max_completion_tokens: 12,
        stream: true,
        messages: [{ role: 'user', content: hi(i) }],
      });
      for await (const _ of stream);
    },
  },
  {
    name: 'responses, streaming',
    maxTokens: 12,
    fixtures: ['openai-responses/text.sse'],
    send: async (h, i) => {
      const stream = await h.openai.responses.create({
        model: 'gpt-test-1',
        max_output_tokens: 12,
        stream: true,
        input: hi(i),
      });
      for await (const _ of stream);
    },
  },
  {
    name: 'messages, blocking',
    maxTokens: 12,
    fixtures: ['anthropic-messages/text.json'],
    send: (h, i) =>
      h.anthropic.messages.create({
        model: 'claude-test-1',
        max_tokens: 12,
        messages: [{ role: 'user', content: hi(i) }],
      }),
  },
  {
    name: 'messages, a two-call tool loop',
    maxTokens: 64,
    fixtures: ['anthropic-messages/injected-tool.json', 'anthropic-messages/after-tool.json'],
    send: (h, i) =>
      h.anthropic.messages.create({
        model: 'claude-test-1',
        max_tokens: 64,
        messages: [{ role: 'user', content: hi(i) }],
      }),
  },
];

/** Sends 60 requests at once; the budget pays for two requests' reservations. */
async function burst(h: Harness, shape: Shape) {
  const results = await Promise.allSettled(Array.from({ length: 60 }, (_, i) => shape.send(h, i)));
  const refused = results.filter(
    (r) =>
      r.status === 'rejected' &&
      (r.reason instanceof OpenAI.RateLimitError || r.reason instanceof Anthropic.RateLimitError),
  );
  const failedOtherwise = results.filter((r) => r.status === 'rejected' && !refused.includes(r));
  return { ok: results.filter((r) => r.status === 'fulfilled').length, refused: refused.length, failedOtherwise };
}

describe.each(STORE_KINDS)('a budget of two calls, 60 requests at once (%s store)', (kind) => {
  let mcp: TestMcpServer;
  beforeAll(async () => {
    mcp = await startTestMcpServer({ extraTools: 0 });
  });
  afterAll(async () => {
    await mcp?.stop();
  });

  for (const shape of SHAPES) {
    it(`${shape.name}: spend stays within the budget`, async () => {
      const budget = 2 * shape.fixtures.length * shape.maxTokens * PER_TOKEN;
      const h = await startHarness(
        `overshoot-${kind}-${shape.name.replace(/\W+/g, '-')}`,
        {
          pricing: PRICING,
          budgets: { member: { usd: budget, period: 'day' } },
          mcp_servers: [{ name: 'test', url: mcp.url, tool_allow_regex: '^echo$' }],
        },
        kind,
      );
      try {
        h.upstream.keepRequests = false;
        if (shape.fixtures.length === 1) h.upstream.setDefault(shape.fixtures[0] as string);
        else for (let i = 0; i < 60; i++) h.upstream.enqueue(...shape.fixtures);
        const { ok, refused, failedOtherwise } = await burst(h, shape);
        expect(failedOtherwise.map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
        expect(ok).toBeGreaterThanOrEqual(1);
        expect(ok + refused).toBe(60);
        await h.bridge.ctx.recorder.flush();
        const spent = await h.store.audit.spend(h.userId, new Date(Date.now() - 86_400_000));
        // Every fixture's usage is within its request's max_tokens: no call can spend beyond its estimate.
        expect(spent).toBeGreaterThan(0);
        expect(spent).toBeLessThanOrEqual(budget + 1e-9);
      } finally {
        await h.close();
      }
    });
  }
});

describe('budgets and prices', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness('budget-prices', {
      pricing: [{ model: 'gpt-test-*', input: 1.25, output: 10 }],
      budgets: { member: { usd: 5, period: 'day' } },
    });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('refuses a budgeted user a model with no price, naming it and how to price it', async () => {
    h.upstream.setDefault('openai-chat/text.json');
    const refused = await h.openai.chat.completions
      .create({ model: 'o3-pro', max_completion_tokens: 10, messages: [{ role: 'user', content: 'hi' }] })
      .catch((e) => e);
    expect(refused).toBeInstanceOf(OpenAI.RateLimitError);
    expect(refused.message).toMatch(
      /model o3-pro has no price, and dev has a budget: an owner can add its price under pricing:/,
    );
    expect(h.upstream.requests).toEqual([]);
  });

  it('reserves every answer a chat call asks for (n), and the stored input a response continues', async () => {
    h.upstream.reset();
    h.upstream.setDefault('openai-chat/text.json');
    const chat = (n?: number) =>
      h.openai.chat.completions.create({
        model: 'gpt-test-1',
        max_completion_tokens: 4_000,
        ...(n ? { n } : {}),
        messages: [{ role: 'user', content: 'hi' }],
      });
    await chat(); // 4 000 tokens at $10/M: $0.04 of $5
    const many = await chat(128).catch((e) => e); // 128 answers of 4 000 tokens: $5.12
    expect(many).toBeInstanceOf(OpenAI.RateLimitError);
    expect(many.message).toMatch(/budget of \$5\.00\/day would be exceeded/);

    h.upstream.setDefault('openai-responses/text.json');
    const respond = (previous?: string) =>
      h.openai.responses.create({
        model: 'gpt-test-1',
        max_output_tokens: 480_000, // $4.80
        input: 'and then?',
        ...(previous ? { previous_response_id: previous } : {}),
      });
    await respond();
    // The input it continues is billed but not carried: a context window of it ($0.25) is reserved too.
    expect(await respond('resp_stored').catch((e) => e)).toBeInstanceOf(OpenAI.RateLimitError);
    expect(h.upstream.requests.map((r) => r.path)).toEqual(['/v1/chat/completions', '/v1/responses']);
  });

  it('keeps a call the client walked away from at its estimate: the provider may still bill it', async () => {
    h.upstream.reset();
    h.upstream.keyAnswers.set('sk-upstream-openai-key', { hang: true }); // generating, no headers yet
    const chat = (maxTokens: number, signal?: AbortSignal) =>
      h.openai.chat.completions.create(
        { model: 'gpt-test-1', max_completion_tokens: maxTokens, messages: [{ role: 'user', content: 'hi' }] },
        { signal },
      );
    const leaving = new AbortController();
    const call = chat(100_000, leaving.signal).catch((e) => e); // $1.00 reserved
    await waitUntil(() => h.upstream.requests.length === 1);
    leaving.abort();
    expect(await call).toBeInstanceOf(OpenAI.APIUserAbortError);
    await waitUntil(() => h.bridge.ctx.limits.concurrency.active === 0); // the interception is over
    h.upstream.keyAnswers.clear();
    h.upstream.setDefault('openai-chat/text.json');
    // $4.00 more would fit in $5 had the abandoned call been released; it was kept.
    expect(await chat(400_000).catch((e) => e)).toBeInstanceOf(OpenAI.RateLimitError);
    expect(h.upstream.requests).toHaveLength(1);
  });

  it('records and costs a compaction like any call', async () => {
    h.upstream.reset();
    h.upstream.enqueue('openai-responses/text.json');
    const res = await fetch(`${h.bridge.url}/openai/v1/responses/compact`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'gpt-test-1',
        max_output_tokens: 64,
        input: [{ role: 'user', content: 'a long talk' }],
      }),
    });
    expect(res.status).toBe(200);
    expect(h.upstream.requests.map((r) => r.path)).toEqual(['/v1/responses/compact']);
    expect(h.upstream.requests[0]?.json.tools).toBeUndefined(); // nothing injected into a compaction
    const r = await h.records();
    expect(r.interception.model).toBe('gpt-test-1');
    expect(r.interception.cost_usd).toBeCloseTo((14 * 1.25 + 11 * 10) / 1e6, 9);
  });
});

describe('a Responses tool loop that chains stored responses', () => {
  let h: Harness;
  let mcp: TestMcpServer;
  beforeAll(async () => {
    mcp = await startTestMcpServer({ extraTools: 0 });
    h = await startHarness('budget-chained-loop', {
      pricing: [{ model: 'gpt-test-*', input: 1.25, output: 10 }],
      budgets: { member: { usd: 0.2, period: 'day' } },
      mcp_servers: [{ name: 'test', url: mcp.url, tool_allow_regex: '^echo$' }],
    });
  });
  afterAll(async () => {
    await h?.close();
    await mcp?.stop();
  });

  it('reserves for the stored input each follow-up continues, not only the tool output it carries', async () => {
    h.upstream.enqueue('openai-responses/injected-tool.json', 'openai-responses/after-tool.json');
    // The first call fits ($0.01 of output); the follow-up chains the stored response
    // (previous_response_id): a context window of input, $0.25 more, does not fit in $0.20.
    const stopped = await h.openai.responses
      .create({ model: 'gpt-test-1', max_output_tokens: 1_000, input: 'echo something' })
      .catch((e) => e);
    expect(stopped).toBeInstanceOf(OpenAI.RateLimitError);
    expect(h.upstream.requests).toHaveLength(1);
  });
});
