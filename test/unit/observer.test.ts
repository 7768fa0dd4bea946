import { SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { InterceptionStarted } from '../../src/intercept/events.ts';
import { type CostFunction, InterceptionObserver } from '../../src/intercept/observer.ts';
import type { ToolCall, Turn, Usage } from '../../src/intercept/types.ts';
import type { ToolCallResult, ToolClaim } from '../../src/mcp/types.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import { startTracing, type TracingHandle } from '../../src/observability/tracing.ts';
import { CircuitOpenError } from '../../src/providers/errors.ts';
import { RecordSanitizer } from '../../src/recorder/sanitize.ts';
import { FakeRecorder } from '../helpers/fakes.ts';

const usage = (input: number, output: number, cacheRead = 0): Usage => ({
  input_tokens: input,
  output_tokens: output,
  cache_read_input_tokens: cacheRead,
  cache_write_input_tokens: 0,
  metadata: {},
});
const call = (id: string, name: string, args = '{}'): ToolCall => ({ id, name, arguments: args });
const turn = (id: string, u: Usage, toolCalls: ToolCall[], thoughts: string[] = []): Turn => ({
  responseId: id,
  responseModel: 'claude-test-1-20260101',
  finishReasons: [toolCalls.length ? 'tool_use' : 'end_turn'],
  usage: u,
  toolCalls,
  thoughts,
  output: [],
});
const claim = (rawName: string, listed = true, refusal: string | null = null): ToolClaim => ({
  tool: { name: `bmcp_gh_${rawName}`, server: 'gh', serverUrl: 'http://mcp.test/gh', rawName },
  listed,
  refusal,
});
const result = (text: string, isError = false): ToolCallResult => ({
  content: [{ type: 'text', text }],
  isError,
  error: isError ? text : null,
  durationMs: 7,
});

const STARTED: InterceptionStarted = {
  record: {
    initiator_id: 'u1',
    api_key_id: 'k1',
    provider: 'anthropic',
    provider_name: 'anthropic',
    model: 'claude-test-1',
    client: 'Claude Code',
    user_agent: 'claude-cli/2.1.3',
    client_session_id: null,
    started_at: new Date(0),
    metadata: {},
  },
  prompt: 'read the file, my password=hunter2',
  thoughtSource: 'thinking',
};

function observe(cost?: CostFunction, clock?: () => number) {
  const recorder = new FakeRecorder();
  const metrics = new Metrics();
  const observer = new InterceptionObserver(
    {
      metrics,
      recorder,
      sanitizer: new RecordSanitizer({ redact: ['(?i)password=\\S+'], max_field_bytes: 1024 }),
      cost,
      clock,
    },
    {
      provider: { name: 'anthropic', genAi: 'anthropic' },
      api: 'messages',
      route: '/v1/messages',
      method: 'POST',
      path: '/anthropic/v1/messages',
      user: { _id: 'u1', username: 'ann' },
      model: 'claude-test-1',
      streaming: false,
      headers: {},
    },
  );
  return { recorder, metrics, observer };
}

/** Two turns: three injected calls at once (one fails, one refused), then a client call beside a call left unrun. */
async function twoTurns(observer: InterceptionObserver) {
  const first = turn(
    'msg_1',
    usage(100, 10, 50),
    [call('a', 'bmcp_gh_read'), call('b', 'bmcp_gh_grep'), call('c', 'bmcp_gh_nope')],
    ['thinking about it'],
  );
  const second = turn('msg_2', usage(200, 20), [call('d', 'get_weather'), call('e', 'bmcp_gh_read')]);
  await observer.run(async () => {
    observer.started(STARTED);
    await observer.processing(async () => {
      await observer.upstreamStarted(async () => 'sent');
      observer.upstreamEnded({ turn: first });
      observer.turnSettled({ turn: first, clientCalls: [], notRun: [] });
      const runs: Array<[ToolCall, ToolClaim, ToolCallResult]> = [
        [call('a', 'bmcp_gh_read'), claim('read'), result('ghp_TESTONLYxxxxxxxxxxxxxxxxxxxxxxxxxxxx file text')],
        [call('b', 'bmcp_gh_grep'), claim('grep'), result('grep failed', true)],
        [
          call('c', 'bmcp_gh_nope'),
          claim('nope', false, 'not for you'),
          { ...result('not for you', true), durationMs: 0 },
        ],
      ];
      await Promise.all(
        runs.map(async ([c, k, r]) => {
          const got = await observer.toolStarted(k.tool, c.id, async () => r);
          observer.toolRan({
            call: c,
            claim: k,
            responseId: 'msg_1',
            result: got,
            output: got.content[0]!.type === 'text' ? got.content[0]!.text : '',
          });
        }),
      );
      await observer.upstreamStarted(async () => 'sent');
      observer.upstreamEnded({ turn: second });
      observer.turnSettled({
        turn: second,
        clientCalls: [call('d', 'get_weather')],
        notRun: [{ call: call('e', 'bmcp_gh_read'), claim: claim('read'), reason: 'not run: mixed' }],
      });
      return { status: 'completed' as const };
    });
    observer.ended({ status: 'completed', metadata: { iterations: 2 } });
  });
}

const value = async (
  metric: { get(): Promise<{ values: Array<{ labels: object; value: number }> }> },
  labels: object,
) =>
  (await metric.get()).values
    .filter((v) => Object.entries(labels).every(([k, l]) => (v.labels as Record<string, unknown>)[k] === l))
    .reduce((n, v) => n + v.value, 0);

describe('InterceptionObserver', () => {
  it('records what the events say, in order, sanitised, with totals', async () => {
    const { recorder, observer } = observe();
    await twoTurns(observer);
    expect(recorder.ops.map((op) => op.kind)).toEqual([
      'interception',
      'user_prompt',
      'token_usage',
      'model_thought',
      'tool_usage',
      'tool_usage',
      'tool_usage',
      'token_usage',
      'tool_usage',
      'tool_usage',
      'interception_ended',
    ]);
    expect(recorder.docs('interception')[0]).toMatchObject({ _id: observer.id, status: null, ended_at: null });
    expect(recorder.docs('user_prompt')[0]).toMatchObject({
      prompt: 'read the file, my [REDACTED]',
      provider_response_id: 'msg_1',
    });
    expect(recorder.docs('model_thought')[0]).toMatchObject({ content: 'thinking about it', source: 'thinking' });
    const tools = new Map(recorder.docs('tool_usage').map((t) => [t.tool_call_id, t]));
    expect(tools.get('a')).toMatchObject({
      tool: 'read',
      injected: true,
      output: '[REDACTED] file text',
      duration_ms: 7,
      invocation_error: null,
    });
    expect(tools.get('b')).toMatchObject({ tool: 'grep', output: 'grep failed', invocation_error: 'grep failed' });
    expect(tools.get('c')).toMatchObject({ tool: 'nope', invocation_error: 'not for you', duration_ms: 0 });
    expect(tools.get('d')).toMatchObject({
      tool: 'get_weather',
      injected: false,
      server_url: null,
      output: null,
      duration_ms: null,
    });
    expect(tools.get('e')).toMatchObject({
      tool: 'read',
      injected: true,
      invocation_error: 'not run: mixed',
      output: null,
    });
    expect(recorder.ended).toMatchObject({
      id: observer.id,
      status: 'completed',
      cost_usd: null,
      totals: {
        input_tokens: 300,
        output_tokens: 30,
        cache_read_input_tokens: 50,
        cache_write_input_tokens: 0,
        tool_calls: 5,
      },
      metadata: { iterations: 2 },
    });
    expect(recorder.docs('token_usage').map((t) => t.cost_usd)).toEqual([null, null]);
  });

  it('prices each usage with the cost function and sums them; one unpriced usage makes the sum unknown', async () => {
    const priced = observe((model, u) => (model === 'claude-test-1' ? u.input_tokens / 1000 : null));
    await twoTurns(priced.observer);
    expect(priced.recorder.docs('token_usage').map((t) => t.cost_usd)).toEqual([0.1, 0.2]);
    expect(priced.recorder.ended?.cost_usd).toBeCloseTo(0.3);
    const partly = observe((_model, u) => (u.input_tokens === 100 ? 1 : null));
    await twoTurns(partly.observer);
    expect(partly.recorder.ended?.cost_usd).toBeNull();
  });

  it('counts the same series as before: prompts, tokens, tools, interceptions', async () => {
    const { metrics, observer } = observe();
    await twoTurns(observer);
    const user = { initiator_id: 'u1', client: 'Claude Code' };
    expect(await value(metrics.prompts, user)).toBe(1);
    expect(await value(metrics.tokens, { ...user, type: 'input' })).toBe(300);
    expect(await value(metrics.tokens, { ...user, type: 'cache_read' })).toBe(50);
    expect(await value(metrics.injectedTools, { server: 'gh', name: 'read', status: 'ok' })).toBe(1);
    expect(await value(metrics.injectedTools, { server: 'gh', name: 'grep', status: 'error' })).toBe(1);
    // A name the model made up is not a series of its own.
    expect(await value(metrics.injectedTools, { server: 'gh', name: 'unknown', status: 'error' })).toBe(1);
    expect(await value(metrics.clientTools, { name: 'get_weather' })).toBe(1);
    expect(await value(metrics.interceptions, { status: 'completed', route: '/v1/messages', method: 'POST' })).toBe(1);
    expect(await value(metrics.inflight, {})).toBe(0);
  });

  it('ends an interception that threw as failed, once', async () => {
    const { recorder, metrics, observer } = observe();
    await expect(
      observer.run(async () => {
        observer.started(STARTED);
        throw new Error('bug');
      }),
    ).rejects.toThrow('bug');
    observer.ended({ status: 'completed', metadata: {} });
    expect(recorder.ops.filter((op) => op.kind === 'interception_ended')).toHaveLength(1);
    expect(recorder.ended).toMatchObject({ status: 'failed', metadata: { error: 'bug' } });
    // The prompt of a request that never got an answer is still recorded.
    expect(recorder.docs('user_prompt')[0]).toMatchObject({ provider_response_id: null });
    expect(await value(metrics.interceptions, { status: 'failed' })).toBe(1);
  });

  it('records nothing for a request that failed before it was understood, but counts it', async () => {
    const { recorder, metrics, observer } = observe();
    await observer.run(async () => {});
    expect(recorder.ops).toEqual([]);
    expect(await value(metrics.interceptions, { status: 'failed' })).toBe(1);
  });
});

describe('InterceptionObserver spans', () => {
  let exporter: InMemorySpanExporter;
  let tracing: TracingHandle;
  beforeAll(async () => {
    exporter = new InMemorySpanExporter();
    tracing = await startTracing({ logs: false, spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  });
  afterAll(() => tracing.stop());

  it('nests the steps under Intercept and ProcessRequest, tool calls of one turn side by side', async () => {
    const { observer } = observe();
    await twoTurns(observer);
    // The exporter receives ended spans asynchronously.
    await vi.waitFor(() => expect(exporter.getFinishedSpans().some((s) => s.name === 'Intercept')).toBe(true));
    const spans = exporter.getFinishedSpans();
    const root = spans.find((s) => s.name === 'Intercept')!;
    const childrenOf = (parent: (typeof spans)[number]) =>
      spans.filter((s) => s.parentSpanContext?.spanId === parent.spanContext().spanId).map((s) => s.name);
    expect(childrenOf(root).sort()).toEqual([
      'Intercept.CreateInterceptor',
      'Intercept.ProcessRequest',
      'Intercept.RecordInterception',
      'Intercept.RecordInterceptionEnded',
      'Intercept.RecordPromptUsage',
      'Intercept.RecordTokenUsage',
      'Intercept.RecordTokenUsage',
      'Intercept.RecordToolUsage',
      'Intercept.RecordToolUsage',
      'Intercept.RecordToolUsage',
      'Intercept.RecordToolUsage',
      'Intercept.RecordToolUsage',
    ]);
    const process = spans.find((s) => s.name === 'Intercept.ProcessRequest')!;
    expect(childrenOf(process)).toEqual([
      'Intercept.ProcessRequest.Upstream',
      'Intercept.ProcessRequest.ToolCall',
      'Intercept.ProcessRequest.ToolCall',
      'Intercept.ProcessRequest.ToolCall',
      'Intercept.ProcessRequest.Upstream',
    ]);
    const calls = spans.filter((s) => s.name === 'Intercept.ProcessRequest.ToolCall');
    expect(calls.map((s) => [s.attributes.mcp_tool_name, s.status.code])).toEqual([
      ['read', SpanStatusCode.UNSET],
      ['grep', SpanStatusCode.ERROR],
      ['nope', SpanStatusCode.ERROR],
    ]);
    for (const s of spans) expect(s.attributes.interception_id ?? observer.id).toBe(observer.id);
    expect(root.attributes).toMatchObject({ interception_id: observer.id, user_id: 'u1', model: 'claude-test-1' });
    const [up1] = spans.filter((s) => s.name === 'Intercept.ProcessRequest.Upstream');
    expect(up1!.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'anthropic',
      'gen_ai.response.id': 'msg_1',
      'gen_ai.response.model': 'claude-test-1-20260101',
      'gen_ai.response.finish_reasons': ['tool_use'],
      'gen_ai.usage.input_tokens': 150,
      'gen_ai.usage.cache_read.input_tokens': 50,
    });
    expect(calls.map((s) => [s.attributes['gen_ai.tool.call.id'], s.attributes['error.type']])).toEqual([
      ['a', undefined],
      ['b', 'tool_error'],
      ['c', 'tool_error'],
    ]);
  });

  it('an upstream call its open circuit refused: error.type circuit_open, and counted as a refusal', async () => {
    exporter.reset();
    const { metrics, observer } = observe();
    const refused = new CircuitOpenError('circuit open', 5);
    await observer.run(async () => {
      observer.started(STARTED);
      await observer.processing(async () => {
        await expect(observer.upstreamStarted(() => Promise.reject(refused))).rejects.toBe(refused);
        return { status: 'failed' as const };
      });
      observer.ended({ status: 'failed', metadata: {} });
    });
    await vi.waitFor(() => expect(exporter.getFinishedSpans().some((s) => s.name === 'Intercept')).toBe(true));
    const upstream = exporter.getFinishedSpans().find((s) => s.name === 'Intercept.ProcessRequest.Upstream');
    expect(upstream?.status.code).toBe(SpanStatusCode.ERROR);
    expect(upstream?.attributes).toMatchObject({
      'error.type': 'circuit_open',
      'gen_ai.response.finish_reasons': ['error'],
    });
    expect(await value(metrics.refused, { provider: 'anthropic', reason: 'circuit_open' })).toBe(1);
  });

  it('records times that follow cause: a tool call starts after the response that asked for it', async () => {
    let now = 1_000; // the fake clock, in ms
    const { recorder, observer } = observe(undefined, () => now);
    const calls = [call('a', 'bmcp_gh_read'), call('b', 'bmcp_gh_grep')];
    const first = turn('msg_1', usage(100, 10), calls, ['one thought', 'another']);
    const second = turn('msg_2', usage(200, 20), []);
    await observer.run(async () => {
      observer.started(STARTED);
      await observer.processing(async () => {
        await observer.upstreamStarted(async () => 'sent');
        // Prompt, usage and two thoughts in one millisecond: their times run ahead of the clock.
        observer.upstreamEnded({ turn: first });
        observer.turnSettled({ turn: first, clientCalls: [], notRun: [] });
        await Promise.all(
          calls.map(async (c) => {
            const k = claim(c.name.replace('bmcp_gh_', ''));
            // The clock moves 5 ms while the MCP layer measures 10 (its own clock, rounded up).
            const got = await observer.toolStarted(k.tool, c.id, async () => {
              now += 5;
              return { ...result('ok'), durationMs: 10 };
            });
            observer.toolRan({ call: c, claim: k, responseId: 'msg_1', result: got, output: 'ok' });
          }),
        );
        now += 1;
        await observer.upstreamStarted(async () => 'sent');
        observer.upstreamEnded({ turn: second });
        observer.turnSettled({ turn: second, clientCalls: [], notRun: [] });
        return { status: 'completed' as const };
      });
      observer.ended({ status: 'completed', metadata: {} });
    });

    const time = (op: (typeof recorder.ops)[number]) =>
      op.kind === 'interception_ended'
        ? op.ended_at.getTime()
        : op.kind === 'interception'
          ? null
          : (op.doc as { created_at: Date }).created_at.getTime();
    const times = recorder.ops.map(time).filter((t): t is number => t !== null);
    // Strictly increasing in the order they were handed over: every store keeps that order.
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(new Set(times).size).toBe(times.length);

    const [response, followUp] = recorder.docs('token_usage').map((u) => u.created_at.getTime());
    const thoughts = recorder.docs('model_thought').map((t) => t.created_at.getTime());
    expect(thoughts).toEqual([1002, 1003]); // ahead of the clock, which said 1000
    for (const tool of recorder.docs('tool_usage')) {
      const end = tool.created_at.getTime();
      const start = end - (tool.duration_ms ?? 0);
      // Where a reader puts the call: after the response and everything recorded with it, before the next.
      expect(start).toBeGreaterThan(response!);
      expect(start).toBeGreaterThan(Math.max(...thoughts));
      expect(end).toBeLessThan(followUp!);
    }
  });
});
