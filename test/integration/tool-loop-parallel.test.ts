import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { NOT_RUN } from '../../src/intercept/tool-loop.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { startTestMcpServer, type TestMcpServer } from '../helpers/mcp-server.ts';
import { manifest } from '../helpers/upstream.ts';

let h: Harness;
let mcp: TestMcpServer;
const facts = manifest();

beforeAll(async () => {
  mcp = await startTestMcpServer({ extraTools: 0 });
  h = await startHarness('tool-loop-parallel', {
    mcp_servers: [{ name: 'test', url: mcp.url, tool_allow_regex: '^(echo|slow)$' }],
    tool_loop: { max_iterations: 4, parallelism: 4, keepalive: '200ms' },
  });
});
afterAll(async () => {
  await h.close();
  await mcp.stop();
});
beforeEach(() => {
  h.upstream.reset();
  mcp.resetPeak();
});

const weather = { name: 'get_weather', description: 'w', parameters: { type: 'object' as const, properties: {} } };
type Api = 'anthropic-messages' | 'openai-chat' | 'openai-responses';
type Ext = 'json' | 'sse';

/** One request of the given API, blocking or streaming, through the official SDK; the client's view as JSON text. */
async function ask(api: Api, ext: Ext, extra: Record<string, unknown> = {}): Promise<string> {
  const streaming = ext === 'sse';
  if (api === 'anthropic-messages') {
    const body = {
      model: 'claude-test-1',
      max_tokens: 512,
      messages: [{ role: 'user' as const, content: 'Fetch three things' }],
      tools: [{ name: weather.name, description: weather.description, input_schema: weather.parameters }],
      ...extra,
    };
    const message = streaming
      ? await h.anthropic.messages.stream(body).finalMessage()
      : await h.anthropic.messages.create(body);
    return JSON.stringify(message);
  }
  if (api === 'openai-chat') {
    const body = {
      model: 'gpt-4.1',
      messages: [{ role: 'user' as const, content: 'Fetch three things' }],
      tools: [{ type: 'function' as const, function: weather }],
      ...extra,
    };
    const completion = streaming
      ? await h.openai.chat.completions.stream(body).finalChatCompletion()
      : await h.openai.chat.completions.create(body);
    return JSON.stringify(completion);
  }
  const body = {
    model: 'gpt-4.1',
    input: 'Fetch three things',
    tools: [{ type: 'function' as const, strict: false, ...weather }],
    ...extra,
  };
  const response = streaming
    ? await h.openai.responses.stream(body).finalResponse()
    : await h.openai.responses.create(body);
  return JSON.stringify(response);
}

/** The call ids of the tool results the upstream got in a follow-up request, in order. */
function resultIds(api: Api, body: any): string[] {
  if (api === 'anthropic-messages') return body.messages.at(-1).content.map((r: any) => r.tool_use_id);
  if (api === 'openai-chat') return body.messages.filter((m: any) => m.role === 'tool').map((m: any) => m.tool_call_id);
  return body.input.filter((i: any) => i.type === 'function_call_output').map((i: any) => i.call_id);
}

/** The client's own tool-call settings that must reach the upstream untouched. */
const CLIENT_SAYS_ONE_AT_A_TIME: Record<Api, Record<string, unknown>> = {
  'anthropic-messages': { tool_choice: { type: 'auto', disable_parallel_tool_use: true } },
  'openai-chat': { parallel_tool_calls: false },
  'openai-responses': { parallel_tool_calls: false },
};

const PATHS = (['anthropic-messages', 'openai-chat', 'openai-responses'] as const).flatMap((api) =>
  (['json', 'sse'] as const).map((ext) => [api, ext] as const),
);

describe('a turn with three injected calls', () => {
  it.each(PATHS)('%s (%s): runs them at once and answers the model in its order', async (api, ext) => {
    h.upstream.enqueue(`${api}/injected-parallel.${ext}`, `${api}/after-tool.${ext}`);
    const seen = await ask(api, ext);
    expect(seen).not.toContain('bmcp_');
    expect(mcp.concurrency.peak).toBe(3);

    const calls = facts[`${api}/injected-parallel.${ext}`]!.tool_calls;
    const [first, second] = h.upstream.requests as [any, any];
    expect(h.upstream.requests).toHaveLength(2);
    // Nothing asks the model for one call per turn any more.
    expect(JSON.stringify(first.json)).not.toMatch(/parallel_tool/);
    expect(resultIds(api, second.json)).toEqual(calls.map((c) => c.id));

    const r = await h.records();
    expect(r.interception.status).toBe('completed');
    expect(r.tools.map((t) => t.tool_call_id).sort()).toEqual(calls.map((c) => c.id).sort());
    for (const tool of r.tools) {
      expect(tool).toMatchObject({ tool: 'slow', injected: true, invocation_error: null, output: 'slept 1000 ms' });
      expect(tool.duration_ms).toEqual(expect.any(Number));
    }
  });
});

describe('a turn mixing an injected call and a client call', () => {
  it.each(PATHS)('%s (%s): the client gets its call; the injected one is recorded as not run', async (api, ext) => {
    h.upstream.enqueue(`${api}/mixed-tools.${ext}`);
    const echoes = mcp.calls.get('echo') ?? 0;
    const seen = await ask(api, ext, CLIENT_SAYS_ONE_AT_A_TIME[api]);
    expect(seen).not.toContain('bmcp_');
    expect(seen).toContain('get_weather');
    expect(h.upstream.requests).toHaveLength(1);
    expect(mcp.calls.get('echo') ?? 0).toBe(echoes);
    // The client's own choice of one call per turn reaches the upstream as it sent it.
    expect(h.upstream.requests[0]!.json).toMatchObject(CLIENT_SAYS_ONE_AT_A_TIME[api]);

    const [echo, weatherCall] = facts[`${api}/mixed-tools.${ext}`]!.tool_calls as [any, any];
    const r = await h.records();
    expect(r.interception.status).toBe('completed');
    const byId = new Map(r.tools.map((t) => [t.tool_call_id, t]));
    expect(byId.get(weatherCall.id)).toMatchObject({
      tool: 'get_weather',
      injected: false,
      server_url: null,
      invocation_error: null,
      output: null,
      duration_ms: null,
    });
    expect(byId.get(echo.id)).toMatchObject({
      tool: 'echo',
      injected: true,
      server_url: mcp.url,
      invocation_error: NOT_RUN.mixed,
      output: null,
      duration_ms: null,
    });
  });
});
