import { describe, expect, it } from 'vitest';
import { chatCompletionsApi } from '../../src/intercept/chat-completions/index.ts';
import type { InterceptionEvents } from '../../src/intercept/events.ts';
import { runInterception } from '../../src/intercept/interception.ts';
import { messagesApi } from '../../src/intercept/messages/index.ts';
import { InterceptionObserver } from '../../src/intercept/observer.ts';
import { responsesApi } from '../../src/intercept/responses/index.ts';
import { prependTools } from '../../src/intercept/tool-format.ts';
import { NOT_RUN } from '../../src/intercept/tool-loop.ts';
import type { ApiModule, Json } from '../../src/intercept/types.ts';
import type { UpstreamReply } from '../../src/intercept/upstream.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import { RecordSanitizer } from '../../src/recorder/sanitize.ts';
import {
  EventLog,
  FakeChannel,
  FakeRecorder,
  FakeToolBridge,
  FakeUpstream,
  fixtureReply,
  type Timeline,
} from '../helpers/fakes.ts';
import { manifest } from '../helpers/upstream.ts';

const facts = manifest();
const metrics = new Metrics();
type Dir = 'anthropic-messages' | 'openai-chat' | 'openai-responses';
type Ext = 'json' | 'sse';
const API: Record<Dir, ApiModule> = {
  'anthropic-messages': messagesApi,
  'openai-chat': chatCompletionsApi,
  'openai-responses': responsesApi,
};
const PATHS = (['anthropic-messages', 'openai-chat', 'openai-responses'] as const).flatMap((dir) =>
  (['json', 'sse'] as const).map((ext) => [dir, ext] as const),
);

/** The client's request, with one tool of its own. */
function request(dir: Dir, streaming: boolean): Json {
  const weather = { name: 'get_weather', description: 'w' };
  if (dir === 'anthropic-messages')
    return {
      model: 'claude-test-1',
      max_tokens: 100,
      stream: streaming,
      messages: [{ role: 'user', content: 'go' }],
      tools: [{ ...weather, input_schema: { type: 'object' } }],
    };
  if (dir === 'openai-chat')
    return {
      model: 'gpt-test-1',
      stream: streaming,
      messages: [{ role: 'user', content: 'go' }],
      tools: [{ type: 'function', function: { ...weather, parameters: { type: 'object' } } }],
    };
  return {
    model: 'gpt-test-1',
    stream: streaming,
    input: 'go',
    tools: [{ type: 'function', ...weather, parameters: { type: 'object' } }],
  };
}

interface Options {
  bridge?: FakeToolBridge;
  maxIterations?: number;
  parallelism?: number;
  keepAliveMs?: number;
  /** Replaces the real observer (given the run's timeline, so its events interleave with the others). */
  events?: (timeline: Timeline) => InterceptionEvents;
  send?: (upstream: FakeUpstream) => (body: Buffer | string) => Promise<UpstreamReply>;
  abort?: AbortController;
}

/**
 * One interception as the interceptor runs it — observer, injection, loop — with fakes for the
 * upstream (fixtures), the MCP tools, the recorder and the client's response.
 */
async function intercept(dir: Dir, ext: Ext, fixtures: string[], options: Options = {}) {
  const timeline: Timeline = [];
  const recorder = new FakeRecorder(timeline);
  const channel = new FakeChannel(timeline);
  const upstream = new FakeUpstream(...fixtures);
  const bridge = options.bridge ?? new FakeToolBridge();
  const warnings: string[] = [];
  const api = API[dir];
  const body = request(dir, ext === 'sse');
  const observer = new InterceptionObserver(
    { metrics, recorder, sanitizer: new RecordSanitizer({ redact: [], max_field_bytes: '64KiB' }) },
    {
      provider: { name: dir, genAi: api.family },
      api: dir === 'openai-chat' ? 'chat' : dir === 'openai-responses' ? 'responses' : 'messages',
      route: api.path,
      method: 'POST',
      path: api.path,
      user: { _id: 'u1', username: 'unit' },
      model: String(body.model),
      streaming: ext === 'sse',
      headers: {},
    },
  );
  const abort = options.abort ?? new AbortController();
  await observer.run(async () => {
    observer.started({
      record: {
        initiator_id: 'u1',
        api_key_id: 'k1',
        provider: api.family,
        provider_name: dir,
        model: String(body.model),
        client: 'Unknown',
        user_agent: null,
        client_session_id: null,
        started_at: new Date(),
        metadata: {},
      },
      prompt: api.prompt(body),
      thoughtSource: api.thoughtSource,
    });
    if (bridge.tools.length) prependTools(body, api.formatTools(bridge.tools));
    const clientWantsUsage = ext === 'sse' ? api.prepareStreaming(body).clientWantsUsage : true;
    await runInterception({
      api,
      body: () => body,
      firstBody: JSON.stringify(body),
      streaming: ext === 'sse',
      bridge,
      events: options.events ? options.events(timeline) : observer,
      channel,
      send: options.send ? options.send(upstream) : upstream.send,
      signal: abort.signal,
      limits: {
        maxIterations: options.maxIterations ?? 4,
        parallelism: options.parallelism ?? 4,
        keepAliveMs: options.keepAliveMs ?? 5_000,
      },
      clientWantsUsage,
      toolsInjected: bridge.tools.length > 0,
      log: { warn: (_fields, message) => warnings.push(message) },
      requestId: 'req-test',
    });
  });
  const tools = recorder.docs('tool_usage');
  return { timeline, recorder, channel, upstream, bridge, warnings, tools, ended: recorder.ended };
}

/** The ids of the tool results a follow-up request carries, in order. */
function resultIds(dir: Dir, body: any): string[] {
  if (dir === 'anthropic-messages') return body.messages.at(-1).content.map((r: any) => r.tool_use_id);
  if (dir === 'openai-chat') return body.messages.filter((m: any) => m.role === 'tool').map((m: any) => m.tool_call_id);
  return body.input.filter((i: any) => i.type === 'function_call_output').map((i: any) => i.call_id);
}

function resultTexts(dir: Dir, body: any): string[] {
  if (dir === 'anthropic-messages')
    return body.messages.at(-1).content.map((r: any) => r.content.map((c: any) => c.text).join('\n'));
  if (dir === 'openai-chat') return body.messages.filter((m: any) => m.role === 'tool').map((m: any) => m.content);
  return body.input.filter((i: any) => i.type === 'function_call_output').map((i: any) => i.output);
}

/** The interception's end is handed to the recorder before the client's last bytes, and the response ends last. */
function expectEndedBeforeLastBytes(timeline: Timeline) {
  const ended = timeline.indexOf('record interception_ended');
  const lastBytes = Math.max(
    timeline.lastIndexOf('write'),
    timeline.lastIndexOf('head 200'),
    ...[429, 500].map((s) => timeline.lastIndexOf(`head ${s}`)),
  );
  expect(ended).toBeGreaterThan(-1);
  expect(ended).toBeLessThan(timeline.indexOf('end'));
  if (lastBytes > timeline.indexOf('record interception')) expect(ended).toBeLessThan(lastBytes);
  expect(timeline.at(-1)).toBe('end');
}

const sumUsage = (...fixtures: string[]) => {
  const usages = fixtures.map((f) => facts[f]!.usage!);
  const sum = (key: keyof (typeof usages)[number]) => usages.reduce((n, u) => n + u[key], 0);
  return {
    input_tokens: sum('input_tokens'),
    output_tokens: sum('output_tokens'),
    cache_read_input_tokens: sum('cache_read_input_tokens'),
    cache_write_input_tokens: sum('cache_write_input_tokens'),
  };
};

describe.each(PATHS)('%s (%s)', (dir, ext) => {
  it('runs a turn’s injected calls at once and gives the model their results in its order', async () => {
    const fixtures = [`${dir}/injected-parallel.${ext}`, `${dir}/after-tool.${ext}`];
    const bridge = new FakeToolBridge({ delayMs: 20 });
    const r = await intercept(dir, ext, fixtures, { bridge });
    expect(bridge.peak).toBe(3);
    const calls = facts[fixtures[0]!]!.tool_calls;
    expect(resultIds(dir, r.upstream.bodies[1])).toEqual(calls.map((c) => c.id));
    expect(r.channel.status).toBe(200);
    expect(r.channel.body).not.toContain('bmcp_');
    if (ext === 'json') expect(r.channel.body).toContain(facts[fixtures[1]!]!.text);

    expect(r.tools.map((t) => t.tool_call_id).sort()).toEqual(calls.map((c) => c.id).sort());
    for (const tool of r.tools) {
      expect(tool).toMatchObject({
        tool: 'slow',
        injected: true,
        server_url: 'http://mcp.test/test',
        invocation_error: null,
        output: 'slow: {"ms":1000}',
        duration_ms: 20,
        metadata: { server: 'test' },
      });
    }
    expect(resultTexts(dir, r.upstream.bodies[1])).toEqual(calls.map(() => 'slow: {"ms":1000}'));
    expect(r.ended).toMatchObject({
      status: 'completed',
      cost_usd: null,
      totals: { ...sumUsage(...fixtures), tool_calls: 3 },
      metadata: { iterations: 2 },
    });
    expectEndedBeforeLastBytes(r.timeline);
  });

  it('keeps the injected call of a mixed turn from the client and records it as not run', async () => {
    const fixture = `${dir}/mixed-tools.${ext}`;
    const r = await intercept(dir, ext, [fixture]);
    expect(r.upstream.bodies).toHaveLength(1);
    expect(r.bridge.called).toEqual([]);
    expect(r.channel.body).not.toContain('bmcp_');
    expect(r.channel.body).toContain('get_weather');
    const [echo, weather] = facts[fixture]!.tool_calls as [any, any];
    expect(r.tools).toEqual([
      expect.objectContaining({ tool_call_id: weather.id, tool: 'get_weather', injected: false, output: null }),
      expect.objectContaining({
        tool_call_id: echo.id,
        tool: 'echo',
        injected: true,
        invocation_error: NOT_RUN.mixed,
        output: null,
        duration_ms: null,
      }),
    ]);
    expect(r.ended).toMatchObject({ status: 'completed', totals: { tool_calls: 2 } });
  });

  it('refuses a call of a tool this user was not given; the model reads why', async () => {
    const bridge = new FakeToolBridge({
      tools: [],
      refused: { test: 'MCP server "test" is not allowed for role member' },
    });
    const r = await intercept(dir, ext, [`${dir}/injected-tool.${ext}`, `${dir}/after-tool.${ext}`], { bridge });
    expect(bridge.called).toEqual([]);
    const told = resultTexts(dir, r.upstream.bodies[1])[0];
    expect(told).toContain('MCP server "test" is not allowed for role member');
    expect(r.channel.body).not.toContain('bmcp_');
    expect(r.tools).toEqual([
      expect.objectContaining({
        tool: 'echo',
        injected: true,
        invocation_error: 'MCP server "test" is not allowed for role member',
        output: told,
        duration_ms: 0,
      }),
    ]);
  });

  it('answers an upstream HTTP error as the provider sent it, after recording the failure', async () => {
    const r = await intercept(dir, ext, [`${dir}/http-429.json`]);
    expect(r.channel.status).toBe(429);
    expect(r.ended).toMatchObject({ status: 'failed', metadata: { upstream_status: 429 } });
    expectEndedBeforeLastBytes(r.timeline);
  });
});

describe.each(['anthropic-messages', 'openai-chat', 'openai-responses'] as const)('%s streaming failures', (dir) => {
  it('relays a mid-stream error event and fails the interception', async () => {
    const r = await intercept(dir, 'sse', [`${dir}/mid-stream-error.sse`]);
    expect(r.ended).toMatchObject({ status: 'failed', metadata: { error: expect.any(String) } });
    expect(r.timeline.at(-1)).toBe('end');
  });

  it('tells the client a cut stream broke, after recording it', async () => {
    const r = await intercept(dir, 'sse', [`${dir}/cut.sse`]);
    expect(r.ended).toMatchObject({ status: 'failed', metadata: { error: expect.stringMatching(/broke/) } });
    expect(r.channel.body.slice(r.channel.body.lastIndexOf('data: '))).toMatch(/upstream stream broke/);
    expectEndedBeforeLastBytes(r.timeline);
  });

  it('an upstream that cannot be reached for the second turn becomes an error event in the stream', async () => {
    const r = await intercept(dir, 'sse', [`${dir}/injected-tool.sse`], {
      send: (upstream) => async (body) => {
        if (upstream.bodies.length)
          throw Object.assign(new Error('connect ECONNREFUSED 10.0.0.7:443'), { code: 'ECONNREFUSED' });
        return upstream.send(body);
      },
    });
    expect(r.warnings).toEqual(['upstream call failed']);
    expect(r.ended).toMatchObject({ status: 'failed', metadata: { error: 'connect ECONNREFUSED 10.0.0.7:443' } });
    // The client hears what failed and a request id, never the address.
    expect(r.channel.body).toContain('upstream unreachable (request id req-test)');
    expect(r.channel.body).not.toContain('10.0.0.7');
    expectEndedBeforeLastBytes(r.timeline);
  });
});

describe('the loop', () => {
  it('runs no more injected calls at once than tool_loop.parallelism', async () => {
    const bridge = new FakeToolBridge({ delayMs: 20 });
    await intercept(
      'anthropic-messages',
      'json',
      ['anthropic-messages/injected-parallel.json', 'anthropic-messages/after-tool.json'],
      {
        bridge,
        parallelism: 2,
      },
    );
    expect(bridge.called).toHaveLength(3);
    expect(bridge.peak).toBe(2);
  });

  it('turns tools off for the last allowed call and records calls past the cap as not run', async () => {
    const fixture = 'anthropic-messages/injected-tool.json';
    const r = await intercept('anthropic-messages', 'json', [fixture, fixture], { maxIterations: 2 });
    expect(r.upstream.bodies[1]).toMatchObject({ tool_choice: { type: 'none' } });
    expect(r.tools.map((t) => t.invocation_error)).toEqual([null, NOT_RUN.capped]);
    expect(r.ended).toMatchObject({ status: 'completed', metadata: { capped: true, iterations: 2 } });
  });

  it('sends keep-alives while tools run', async () => {
    const bridge = new FakeToolBridge({ delayMs: 200 });
    const r = await intercept(
      'anthropic-messages',
      'sse',
      ['anthropic-messages/injected-tool.sse', 'anthropic-messages/after-tool.sse'],
      {
        bridge,
        keepAliveMs: 50,
      },
    );
    const pings = r.channel.body.split('event: ping\n').length - 1;
    expect(pings).toBeGreaterThan(2); // one per fixture stream, and ours between them
  });

  it('reports its steps in order, the end before the response ends', async () => {
    const r = await intercept(
      'openai-chat',
      'json',
      ['openai-chat/injected-tool.json', 'openai-chat/after-tool.json'],
      { events: (timeline) => new EventLog(timeline) },
    );
    // (The records here are the real observer's, which this test keeps out of the loop.)
    expect(r.timeline.filter((step) => !step.startsWith('record '))).toEqual([
      'processing',
      'upstreamStarted',
      'upstreamEnded',
      'turnSettled',
      'toolStarted',
      'toolRan',
      'upstreamStarted',
      'upstreamEnded',
      'turnSettled',
      'ended completed',
      'head 200',
      'end',
    ]);
    expect(r.channel.body).not.toContain('bmcp_');
  });

  it('records a client that left as failed and writes nothing more', async () => {
    const abort = new AbortController();
    const r = await intercept('openai-responses', 'json', ['openai-responses/text.json'], {
      abort,
      send: () => async () => {
        abort.abort();
        throw new Error('aborted');
      },
    });
    expect(r.ended).toMatchObject({ status: 'failed', metadata: { error: 'client disconnected' } });
    expect(r.channel.started).toBe(false);
    expect(r.warnings).toEqual([]);
  });

  it('answers the provider’s bytes untouched when there is nothing to hide', async () => {
    const r = await intercept('anthropic-messages', 'json', ['anthropic-messages/text.json'], {
      bridge: new FakeToolBridge({ tools: [] }),
    });
    const f = fixtureReply('anthropic-messages/text.json');
    expect(r.channel.body).toBe(await f.body.text());
  });
});
