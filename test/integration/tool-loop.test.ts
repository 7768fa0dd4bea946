import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { startTestMcpServer, type TestMcpServer } from '../helpers/mcp-server.ts';
import { manifest } from '../helpers/upstream.ts';

let h: Harness;
let mcp: TestMcpServer;
const facts = manifest();
const ECHOED = 'hello from the model';

beforeAll(async () => {
  mcp = await startTestMcpServer({ extraTools: 0 });
  h = await startHarness('tool-loop', {
    mcp_servers: [{ name: 'test', url: mcp.url, tool_allow_regex: '^(echo|fail|slow|image)$' }],
    tool_loop: { max_iterations: 4, keepalive: '200ms' },
  });
});
afterAll(async () => {
  await h.close();
  await mcp.stop();
});
beforeEach(() => h.upstream.reset());

const INJECTED = ['bmcp_test_echo', 'bmcp_test_fail', 'bmcp_test_image', 'bmcp_test_slow'];

/** The tool result text the upstream received in the follow-up call, per API. */
function resultSent(api: string, call2: any): string {
  if (api === 'anthropic-messages')
    return call2.json.messages
      .at(-1)
      .content[0].content.map((b: any) => b.text)
      .join('\n');
  if (api === 'openai-chat') return call2.json.messages.at(-1).content;
  return call2.json.input.at(-1).output;
}

/** What every path must show: the tool ran once, the upstream saw it, the records are exact. */
async function expectOneEchoLoop(api: string, ext: 'json' | 'sse') {
  const first = facts[`${api}/injected-tool.${ext}`]!;
  const second = facts[`${api}/after-tool.${ext}`]!;
  expect(h.upstream.requests).toHaveLength(2);
  const [call1, call2] = h.upstream.requests as [any, any];
  expect(JSON.stringify(call2.json)).toContain(ECHOED);
  expect(JSON.stringify(call2.json)).toContain(first.tool_calls[0]!.id);
  const r = await h.records();
  expect(r.interception.status).toBe('completed');
  expect(r.tools).toEqual([
    expect.objectContaining({
      tool_call_id: first.tool_calls[0]!.id,
      tool: 'echo',
      server_url: mcp.url,
      injected: true,
      invocation_error: null,
      // Exactly what the model was given: the text, then the structured content as JSON.
      output: resultSent(api, call2),
      duration_ms: expect.any(Number),
    }),
  ]);
  expect(r.tools[0].output).toBe(`${ECHOED}\n${JSON.stringify({ echoed: ECHOED, length: ECHOED.length })}`);
  expect(JSON.parse(r.tools[0].input)).toEqual({ text: ECHOED });
  expect(r.tokens.map((t) => t.provider_response_id)).toEqual([first.response_id, second.response_id]);
  expect(
    r.tokens.map(({ input_tokens, output_tokens, cache_read_input_tokens, cache_write_input_tokens }) => ({
      input_tokens,
      output_tokens,
      cache_read_input_tokens,
      cache_write_input_tokens,
    })),
  ).toEqual([first.usage, second.usage]);
  expect(r.prompts).toHaveLength(1);
  return { call1, call2, r };
}

describe('Anthropic Messages tool loop', () => {
  const ask = {
    model: 'claude-test-1',
    max_tokens: 512,
    messages: [{ role: 'user' as const, content: 'Echo something' }],
    tools: [
      {
        name: 'get_weather',
        description: 'w',
        input_schema: { type: 'object' as const },
        cache_control: { type: 'ephemeral' as const },
      },
    ],
  };

  it('blocking: runs the injected tool and returns one coherent message', async () => {
    h.upstream.enqueue('anthropic-messages/injected-tool.json', 'anthropic-messages/after-tool.json');
    const message = await h.anthropic.messages.create(ask);
    expect(JSON.stringify(message)).not.toContain('bmcp_');
    expect(
      message.content
        .filter((b) => b.type === 'text')
        .map((b) => (b.type === 'text' ? b.text : ''))
        .join(''),
    ).toContain(facts['anthropic-messages/after-tool.json']!.text);
    const first = facts['anthropic-messages/injected-tool.json']!.usage!;
    const second = facts['anthropic-messages/after-tool.json']!.usage!;
    expect(message.usage.output_tokens).toBe(first.output_tokens + second.output_tokens);
    const { call1, call2 } = await expectOneEchoLoop('anthropic-messages', 'json');
    expect(call1.json.tools.map((t: any) => t.name)).toEqual([...INJECTED, 'get_weather']);
    expect(call1.json.tools.at(-1).cache_control).toEqual({ type: 'ephemeral' });
    expect(call1.json.tool_choice).toBeUndefined(); // several injected calls per turn are welcome
    const result = call2.json.messages.at(-1).content[0];
    expect(result).toMatchObject({
      type: 'tool_result',
      tool_use_id: facts['anthropic-messages/injected-tool.json']!.tool_calls[0]!.id,
    });
  });

  it('streaming: text flows, the injected call is hidden, indexes stay contiguous', async () => {
    h.upstream.enqueue('anthropic-messages/injected-tool.sse', 'anthropic-messages/after-tool.sse');
    const stream = h.anthropic.messages.stream(ask);
    const indexes: number[] = [];
    stream.on('streamEvent', (e) => {
      if (e.type === 'content_block_start') indexes.push(e.index);
    });
    const message = await stream.finalMessage();
    expect(JSON.stringify(message)).not.toContain('bmcp_');
    expect(indexes).toEqual([0, 1]);
    expect(message.content.map((b) => (b.type === 'text' ? b.text : b.type))).toEqual([
      facts['anthropic-messages/injected-tool.sse']!.text,
      facts['anthropic-messages/after-tool.sse']!.text,
    ]);
    expect(message.id).toBe(facts['anthropic-messages/injected-tool.sse']!.response_id);
    await expectOneEchoLoop('anthropic-messages', 'sse');
  });

  it('streaming: sends ping events while a slow tool runs', async () => {
    h.upstream.enqueue('anthropic-messages/injected-slow-tool.sse', 'anthropic-messages/after-tool.sse');
    // The SDK swallows ping events, so read the raw stream.
    const res = await fetch(`${h.bridge.url}/anthropic/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': h.token, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ ...ask, stream: true }),
    });
    const text = await res.text();
    const fixturePings = 2; // one in each fixture stream
    expect(text.split('event: ping').length - 1 - fixturePings).toBeGreaterThanOrEqual(3);
    expect(text).not.toContain('bmcp_');
    expect(text.trimEnd().endsWith('data: {"type":"message_stop"}')).toBe(true);
    const r = await h.records();
    expect(r.tools[0]).toMatchObject({ tool: 'slow', injected: true, invocation_error: null, output: 'slept 1500 ms' });
    expect(r.tools[0].duration_ms).toBeGreaterThanOrEqual(1000);
  });
});

describe('Chat Completions tool loop', () => {
  const ask = { model: 'gpt-4.1', messages: [{ role: 'user' as const, content: 'Echo something' }] };

  it('blocking', async () => {
    h.upstream.enqueue('openai-chat/injected-tool.json', 'openai-chat/after-tool.json');
    const completion = await h.openai.chat.completions.create(ask);
    expect(JSON.stringify(completion)).not.toContain('bmcp_');
    expect(completion.choices[0]?.message.content).toBe(facts['openai-chat/after-tool.json']!.text);
    expect(completion.choices[0]?.message.tool_calls).toBeUndefined();
    const { call1, call2 } = await expectOneEchoLoop('openai-chat', 'json');
    expect(call1.json).not.toHaveProperty('parallel_tool_calls');
    expect(call1.json.tools.map((t: any) => t.function.name)).toEqual(INJECTED);
    expect(call2.json.messages.at(-1)).toMatchObject({ role: 'tool', content: expect.stringContaining(ECHOED) });
  });

  it('streaming', async () => {
    h.upstream.enqueue('openai-chat/injected-tool.sse', 'openai-chat/after-tool.sse');
    const final = await h.openai.chat.completions.stream(ask).finalChatCompletion();
    expect(JSON.stringify(final)).not.toContain('bmcp_');
    expect(final.choices[0]?.message.content).toBe(facts['openai-chat/after-tool.sse']!.text);
    expect(final.choices[0]?.message.tool_calls ?? []).toEqual([]);
    expect(final.id).toBe(facts['openai-chat/injected-tool.sse']!.response_id);
    await expectOneEchoLoop('openai-chat', 'sse');
  });
});

describe('Responses tool loop', () => {
  it('blocking', async () => {
    h.upstream.enqueue('openai-responses/injected-tool.json', 'openai-responses/after-tool.json');
    const response = await h.openai.responses.create({ model: 'gpt-4.1', input: 'Echo something' });
    expect(JSON.stringify(response)).not.toContain('bmcp_');
    expect(response.output_text).toBe(facts['openai-responses/after-tool.json']!.text);
    const { call1, call2 } = await expectOneEchoLoop('openai-responses', 'json');
    expect(call1.json.tools.map((t: any) => t.name)).toEqual(INJECTED);
    expect(call2.json.previous_response_id).toBe(facts['openai-responses/injected-tool.json']!.response_id);
    expect(call2.json.input).toEqual([
      {
        type: 'function_call_output',
        call_id: facts['openai-responses/injected-tool.json']!.tool_calls[0]!.id,
        output: expect.stringContaining(ECHOED),
      },
    ]);
  });

  it('streaming (store: false replays the items)', async () => {
    h.upstream.enqueue('openai-responses/injected-tool.sse', 'openai-responses/after-tool.sse');
    const stream = h.openai.responses.stream({ model: 'gpt-4.1', input: 'Echo something', store: false });
    const sequence: number[] = [];
    stream.on('event', (e) => sequence.push(e.sequence_number));
    const final = await stream.finalResponse();
    expect(JSON.stringify(final)).not.toContain('bmcp_');
    expect(final.output_text).toBe(facts['openai-responses/after-tool.sse']!.text);
    expect(sequence).toEqual(sequence.map((_, i) => i));
    const { call2 } = await expectOneEchoLoop('openai-responses', 'sse');
    expect(call2.json.input.map((i: any) => i.type ?? i.role)).toEqual([
      'user',
      'function_call',
      'function_call_output',
    ]);
  });
});

describe('loop limits and failures', () => {
  it('stops at max_iterations with tools turned off and says so', async () => {
    const capped = await startHarness('tool-loop-cap', {
      mcp_servers: [{ name: 'test', url: mcp.url, tool_allow_regex: '^echo$' }],
      tool_loop: { max_iterations: 2 },
    });
    try {
      capped.upstream.enqueue('anthropic-messages/injected-tool.json', 'anthropic-messages/after-tool.json');
      await capped.anthropic.messages.create({
        model: 'claude-test-1',
        max_tokens: 100,
        messages: [{ role: 'user', content: 'x' }],
      });
      expect(capped.upstream.requests[1]!.json.tool_choice).toEqual({ type: 'none' });
      const r = await capped.records();
      expect(r.interception.metadata).toMatchObject({ capped: true, iterations: 2 });
    } finally {
      await capped.close();
    }
  });

  it('records a failing tool and still completes the request', async () => {
    const doomed = await startTestMcpServer({ extraTools: 0 });
    const failing = await startHarness('tool-loop-fail', {
      mcp_servers: [{ name: 'test', url: doomed.url, tool_allow_regex: '^echo$', call_timeout: '2s' }],
    });
    try {
      await doomed.stop(); // the server dies after its tools were listed
      failing.upstream.enqueue('anthropic-messages/injected-tool.json', 'anthropic-messages/after-tool.json');
      const message = await failing.anthropic.messages.create({
        model: 'claude-test-1',
        max_tokens: 100,
        messages: [{ role: 'user', content: 'x' }],
      });
      expect(message.stop_reason).toBe('end_turn');
      const result = failing.upstream.requests[1]!.json.messages.at(-1).content[0];
      expect(result).toMatchObject({ type: 'tool_result', is_error: true });
      const r = await failing.records();
      expect(r.interception.status).toBe('completed');
      expect(r.tools[0].invocation_error).toEqual(expect.any(String));
    } finally {
      await failing.close();
    }
  });
});
