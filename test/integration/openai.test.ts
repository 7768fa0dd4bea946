import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { manifest } from '../helpers/upstream.ts';

let h: Harness;
const facts = manifest();
beforeAll(async () => {
  h = await startHarness('openai');
});
afterAll(() => h.close());
beforeEach(() => h.upstream.reset());

const chat = { model: 'gpt-4.1', messages: [{ role: 'user' as const, content: 'Say hello' }] };
const codexHeaders = {
  'user-agent': 'codex_cli_rs/0.171.0 (Debian 12; x86_64)',
  originator: 'codex_cli_rs',
  session_id: 'codex-session-9',
};

describe('Chat Completions', () => {
  it('blocking: returns the body and records usage with cached tokens split out', async () => {
    h.upstream.enqueue('openai-chat/cached.json');
    const completion = await h.openai.chat.completions.create(chat);
    const expected = facts['openai-chat/cached.json']!;
    expect(completion.choices[0]?.message.content).toBe(expected.text);
    expect(completion.id).toBe(expected.response_id);
    const sent = h.upstream.requests[0]!;
    expect(sent.path).toBe('/v1/chat/completions');
    expect(sent.headers.authorization).toBe('Bearer sk-upstream-openai-key');
    const r = await h.records();
    expect(r.interception).toMatchObject({
      provider: 'openai',
      provider_name: 'openai',
      model: 'gpt-4.1',
      status: 'completed',
    });
    expect(r.tokens[0]).toMatchObject(expected.usage!);
    expect(r.tokens[0].metadata).toHaveProperty('total_tokens');
  });

  it('streaming: asks upstream for usage, hides the extra usage chunk, records usage', async () => {
    h.upstream.enqueue('openai-chat/text.sse');
    const stream = await h.openai.chat.completions.create({ ...chat, stream: true });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    const expected = facts['openai-chat/text.sse']!;
    expect(text).toBe(expected.text);
    expect(chunks.some((c) => c.usage)).toBe(false);
    expect(h.upstream.requests[0]!.json.stream_options).toEqual({ include_usage: true });
    expect((await h.records()).tokens[0]).toMatchObject(expected.usage!);
  });

  it('streaming: keeps the usage chunk when the client asked for it', async () => {
    h.upstream.enqueue('openai-chat/text.sse');
    const stream = await h.openai.chat.completions.create({
      ...chat,
      stream: true,
      stream_options: { include_usage: true },
    });
    let usage: unknown;
    for await (const chunk of stream) usage ??= chunk.usage;
    expect(usage).toMatchObject({ prompt_tokens: 21, completion_tokens: 10 });
    await h.records();
  });

  it('streaming: relays parallel client tool calls and records each', async () => {
    h.upstream.enqueue('openai-chat/parallel-tools.sse');
    const runner = h.openai.chat.completions.stream({ ...chat, tools: [] });
    const final = await runner.finalChatCompletion();
    const expected = facts['openai-chat/parallel-tools.sse']!;
    const calls = final.choices[0]?.message.tool_calls ?? [];
    expect(
      calls.map((c) => (c.type === 'function' ? [c.id, c.function.name, JSON.parse(c.function.arguments)] : [])),
    ).toEqual(expected.tool_calls.map((c) => [c.id, c.name, c.arguments]));
    const r = await h.records();
    expect(r.tools.map((t) => [t.tool_call_id, t.tool, JSON.parse(t.input), t.injected])).toEqual(
      expected.tool_calls.map((c) => [c.id, c.name, c.arguments, false]),
    );
  });

  it('streaming: a mid-stream error reaches the SDK and fails the interception', async () => {
    h.upstream.enqueue('openai-chat/mid-stream-error.sse');
    const consume = async () => {
      for await (const _ of await h.openai.chat.completions.create({ ...chat, stream: true })) {
      }
    };
    await expect(consume()).rejects.toThrow();
    expect((await h.records()).interception.status).toBe('failed');
  });

  it('passes 429 and 500 through as typed SDK errors', async () => {
    h.upstream.enqueue('openai-chat/http-429.json');
    const limited = await h.openai.chat.completions.create(chat).catch((e) => e);
    expect(limited).toBeInstanceOf(OpenAI.RateLimitError);
    expect(limited.headers.get('retry-after')).toBeTruthy();
    await h.records();
    h.upstream.enqueue('openai-chat/http-500.json');
    expect(await h.openai.chat.completions.create(chat).catch((e) => e)).toBeInstanceOf(OpenAI.InternalServerError);
    expect((await h.records()).interception.status).toBe('failed');
  });

  it('relays refusals as the provider sent them', async () => {
    h.upstream.enqueue('openai-chat/refusal.json');
    const completion = await h.openai.chat.completions.create(chat);
    expect(completion.choices[0]?.message.refusal).toBe(facts['openai-chat/refusal.json']!.refusal);
    expect((await h.records()).interception.status).toBe('completed');
    h.upstream.enqueue('openai-chat/refusal.sse');
    let refusal = '';
    for await (const chunk of await h.openai.chat.completions.create({ ...chat, stream: true })) {
      refusal += chunk.choices[0]?.delta.refusal ?? '';
    }
    expect(refusal).toBe(facts['openai-chat/refusal.sse']!.refusal);
    await h.records();
  });

  it('refuses bad tokens and bad bodies in OpenAI format', async () => {
    const bad = new OpenAI({ baseURL: `${h.bridge.url}/openai/v1`, apiKey: 'nope', maxRetries: 0 });
    const denied = await bad.chat.completions.create(chat).catch((e) => e);
    expect(denied).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(denied.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_api_key' });
    const missing = await h.openai.chat.completions.create({ model: 'gpt-4.1' } as never).catch((e) => e);
    expect(missing).toBeInstanceOf(OpenAI.BadRequestError);
    expect(missing.message).toMatch(/messages/);
    expect(h.upstream.requests).toHaveLength(0);
  });
});

describe('Responses', () => {
  const ask = {
    model: 'gpt-5',
    input: [{ role: 'user' as const, content: [{ type: 'input_text' as const, text: 'What is 17 × 23?' }] }],
  };

  it('blocking: records the input_text prompt, reasoning summary and usage', async () => {
    h.upstream.enqueue('openai-responses/thinking.json');
    const response = await h.openai.responses.create(ask, { headers: codexHeaders });
    const expected = facts['openai-responses/thinking.json']!;
    expect(response.output_text).toBe(expected.text);
    const r = await h.records();
    expect(r.interception).toMatchObject({
      client: 'Codex',
      client_session_id: 'codex-session-9',
      status: 'completed',
    });
    expect(r.prompts.map((p) => p.prompt)).toEqual(['What is 17 × 23?']);
    expect(r.thoughts.map((t) => [t.content, t.source])).toEqual([[expected.thinking, 'reasoning_summary']]);
    expect(r.tokens[0]).toMatchObject(expected.usage!);
  });

  it('streaming: relays typed events to the SDK and records usage', async () => {
    h.upstream.enqueue('openai-responses/cached.sse');
    const stream = h.openai.responses.stream({ model: 'gpt-4.1', input: 'Say hello' });
    const final = await stream.finalResponse();
    const expected = facts['openai-responses/cached.sse']!;
    expect(final.output_text).toBe(expected.text);
    expect(final.id).toBe(expected.response_id);
    const r = await h.records();
    expect(r.prompts[0].prompt).toBe('Say hello');
    expect(r.tokens[0]).toMatchObject(expected.usage!);
  });

  it('streaming: client function calls reach the client and are recorded', async () => {
    h.upstream.enqueue('openai-responses/client-tool.sse');
    const final = await h.openai.responses.stream({ model: 'gpt-4.1', input: 'Weather?' }).finalResponse();
    const expected = facts['openai-responses/client-tool.sse']!;
    const call = final.output.find((o) => o.type === 'function_call');
    expect(
      call && call.type === 'function_call' ? [call.call_id, call.name, JSON.parse(call.arguments)] : null,
    ).toEqual([expected.tool_calls[0]!.id, 'get_weather', expected.tool_calls[0]!.arguments]);
    expect((await h.records()).tools[0]).toMatchObject({ tool_call_id: expected.tool_calls[0]!.id, injected: false });
  });

  it('streaming: response.failed reaches the client and fails the interception', async () => {
    h.upstream.enqueue('openai-responses/mid-stream-error.sse');
    const final = await h.openai.responses.stream({ model: 'gpt-4.1', input: 'x' }).finalResponse();
    expect(final.status).toBe('failed');
    expect(final.error?.message).toBeTruthy();
    expect((await h.records()).interception.status).toBe('failed');
  });

  it('requires input', async () => {
    const err = await h.openai.responses.create({ model: 'gpt-4.1' } as never).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(h.upstream.requests).toHaveLength(0);
  });
});

describe('passthrough and routes', () => {
  it('forwards models byte for byte with the provider key', async () => {
    h.upstream.enqueue('openai-passthrough/models.json');
    const res = await fetch(`${h.bridge.url}/openai/v1/models`, { headers: { authorization: `Bearer ${h.token}` } });
    const body = await res.text();
    const upstreamBody = await (async () => {
      const { loadFixture } = await import('../helpers/upstream.ts');
      const f = loadFixture('openai-passthrough/models.json');
      return f.kind === 'json' ? f.body : '';
    })();
    expect(res.status).toBe(200);
    expect(body).toBe(upstreamBody);
    expect(h.upstream.requests[0]).toMatchObject({ method: 'GET', path: '/v1/models' });
    expect(h.upstream.requests[0]!.headers.authorization).toBe('Bearer sk-upstream-openai-key');
  });

  it('answers under the Coder prefix and counts tokens for Anthropic', async () => {
    h.upstream.enqueue('anthropic-passthrough/count-tokens.json');
    const res = await fetch(`${h.bridge.url}/api/v2/aibridge/anthropic/v1/messages/count_tokens`, {
      method: 'POST',
      headers: { 'coder-session-token': h.token, 'content-type': 'application/json', 'anthropic-beta': 'x-test-beta' },
      body: JSON.stringify({ model: 'claude-test-1', messages: [] }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ input_tokens: 2095 });
    const sent = h.upstream.requests[0]!;
    expect(sent.path).toBe('/v1/messages/count_tokens');
    expect(sent.headers['anthropic-beta']).toBe('x-test-beta');
    expect(sent.headers['x-api-key']).toBe('sk-ant-upstream-key');
    expect(sent.headers['coder-session-token']).toBeUndefined();
  });

  it('answers the HEAD probe without auth and 404s unknown provider paths', async () => {
    expect((await fetch(`${h.bridge.url}/anthropic`, { method: 'HEAD' })).status).toBe(200);
    const missing = await fetch(`${h.bridge.url}/openai/v1/embeddings`, { method: 'POST' });
    expect(missing.status).toBe(404);
    expect(h.upstream.requests).toHaveLength(0);
  });

  it('aborts the upstream call when a streaming client goes away', async () => {
    h.upstream.enqueue('openai-responses/hang.sse');
    const controller = new AbortController();
    const stream = await h.openai.responses.create(
      { model: 'gpt-4.1', input: 'x', stream: true },
      { signal: controller.signal },
    );
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();
    controller.abort();
    const r = await h.records();
    expect(r.interception.status).toBe('failed');
    expect(r.interception.metadata.error).toBe('client disconnected');
    await import('../helpers/process.ts').then(({ waitUntil }) => waitUntil(() => h.upstream.aborted === 1));
  });
});
