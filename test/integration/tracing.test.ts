import { randomBytes, randomUUID } from 'node:crypto';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { genAiMetrics } from '../../src/observability/gen-ai-metrics.ts';
import { startTracing, type TracingHandle } from '../../src/observability/tracing.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { startTestMcpServer, type TestMcpServer } from '../helpers/mcp-server.ts';
import { OtlpReceiver, type ReceivedPoint } from '../helpers/otlp-receiver.ts';
import { waitUntil } from '../helpers/process.ts';
import { manifest, responseModelOf } from '../helpers/upstream.ts';

const facts = manifest();
const ASK = {
  model: 'claude-test-1',
  max_tokens: 512,
  messages: [{ role: 'user' as const, content: 'Echo something, then check the weather' }],
  tools: [{ name: 'get_weather', description: 'w', input_schema: { type: 'object' as const } }],
};
/** Every span of an interception carries these; the Record* and later ones add interception_id. */
const SHARED = ['user_id', 'provider', 'model', 'streaming', 'request_path'];

/**
 * Plain fetch, not the Anthropic SDK: in this process the SDK sees the bridge's global tracer
 * and would start its own client spans and replace the traceparent we send.
 */
async function ask(h: Harness, options: { stream?: boolean; traceparent?: string; session?: string } = {}) {
  const res = await fetch(`${h.bridge.url}/anthropic/v1/messages`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'anthropic-version': '2023-06-01',
      'x-api-key': h.token,
      ...(options.traceparent ? { traceparent: options.traceparent } : {}),
      // Claude Code's session header: the conversation the spans belong to.
      ...(options.session ? { 'x-claude-code-session-id': options.session } : {}),
    },
    body: JSON.stringify({ ...ASK, stream: options.stream ?? false }),
  });
  return { status: res.status, text: await res.text() };
}

const id = (s: ReadableSpan) => s.spanContext().spanId;
/** A span's attributes from the semantic conventions (ours have no dots). */
const conventional = (s: ReadableSpan) =>
  Object.fromEntries(Object.entries(s.attributes).filter(([k]) => k.includes('.')));
const traceparent = (traceId: string, spanId: string) => `00-${traceId}-${spanId}-01`;
const hex = (chars: number) => randomBytes(chars / 2).toString('hex');

describe('traces with an in-memory exporter', () => {
  let exporter: InMemorySpanExporter;
  let tracing: TracingHandle;
  let mcp: TestMcpServer;
  let h: Harness;

  const spansOf = (traceId: string) => exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
  /** In the order they ended (start times have only millisecond resolution, so they tie). */
  const childrenOf = (all: ReadableSpan[], parent: ReadableSpan) =>
    all.filter((s) => s.parentSpanContext?.spanId === id(parent));

  async function startInMemory(logs: boolean) {
    exporter = new InMemorySpanExporter();
    tracing = await startTracing({ logs, spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  }

  beforeAll(async () => {
    mcp = await startTestMcpServer({ extraTools: 0 });
    await startInMemory(true); // before the server, so its start-up spans are recorded
    h = await startHarness('tracing', {
      mcp_servers: [{ name: 'test', url: mcp.url, tool_allow_regex: '^(echo|fail)$' }],
      tool_loop: { max_iterations: 4, keepalive: '200ms' },
    });
  });
  afterAll(async () => {
    await h.close();
    await tracing.stop();
    await mcp.stop();
  });
  beforeEach(() => h.upstream.reset());

  it('start-up: ServerProxyManager.Init → StreamableHTTPServerProxy.Init → fetchTools, traceparent to the MCP server', () => {
    const all = exporter.getFinishedSpans();
    const manager = all.find((s) => s.name === 'ServerProxyManager.Init');
    expect(manager).toBeDefined();
    expect(manager!.parentSpanContext).toBeUndefined();
    const tree = spansOf(manager!.spanContext().traceId);
    const [init, ...others] = childrenOf(tree, manager!);
    expect(others).toEqual([]);
    expect(init!.name).toBe('StreamableHTTPServerProxy.Init');
    expect(init!.attributes.mcp_server_name).toBe('test');
    expect(childrenOf(tree, init!).map((s) => [s.name, s.attributes.mcp_server_name])).toEqual([
      ['StreamableHTTPServerProxy.Init.fetchTools', 'test'],
    ]);
    expect(tree.every((s) => s.status.code !== SpanStatusCode.ERROR)).toBe(true);
    // The MCP initialize request carried the Init span's context.
    const traced = mcp.requests.map((r) => r.traceparent).filter(Boolean);
    expect(traced).toContain(traceparent(manager!.spanContext().traceId, id(init!)));
  });

  /** One interception with one injected call (echo) and then one client tool call (get_weather). */
  async function expectInterceptionTree(
    streaming: boolean,
    clientTrace: string,
    clientParent: string,
    session: string,
  ) {
    const ext = streaming ? 'sse' : 'json';
    const r = await h.records();
    await waitUntil(() => spansOf(clientTrace).some((s) => s.name === 'Intercept'));
    const tree = spansOf(clientTrace);
    const roots = tree.filter((s) => s.name === 'Intercept');
    expect(roots).toHaveLength(1);
    const root = roots[0]!;
    expect(root.kind).toBe(SpanKind.SERVER);
    expect(root.resource.attributes['service.name']).toBe('aibridge'); // without OTEL_SERVICE_NAME
    expect(root.parentSpanContext?.spanId).toBe(clientParent);
    expect(root.attributes).toEqual({
      interception_id: r.interception._id,
      user_id: h.userId,
      provider: 'anthropic',
      model: 'claude-test-1',
      streaming,
      request_path: '/anthropic/v1/messages',
      'gen_ai.conversation.id': session,
    });
    expect(r.interception.client_session_id).toBe(session);
    expect(root.status.code).toBe(SpanStatusCode.UNSET);

    const children = childrenOf(tree, root);
    expect(children.map((s) => s.name).sort()).toEqual([
      'CachedBridgePool.Acquire',
      'Intercept.CreateInterceptor',
      'Intercept.ProcessRequest',
      'Intercept.RecordInterception',
      'Intercept.RecordInterceptionEnded',
      'Intercept.RecordPromptUsage',
      'Intercept.RecordTokenUsage',
      'Intercept.RecordTokenUsage',
      'Intercept.RecordToolUsage',
      'Intercept.RecordToolUsage',
    ]);
    const process = children.find((s) => s.name === 'Intercept.ProcessRequest')!;
    const steps = childrenOf(tree, process);
    expect(steps.map((s) => s.name)).toEqual([
      'Intercept.ProcessRequest.Upstream',
      'Intercept.ProcessRequest.ToolCall',
      'Intercept.ProcessRequest.Upstream',
    ]);
    // Nothing else in the trace: 1 root + 10 children + 3 steps.
    expect(tree).toHaveLength(14);
    for (const s of tree) {
      for (const key of SHARED) expect(s.attributes[key], `${s.name}.${key}`).toEqual(root.attributes[key]);
      if (!['CachedBridgePool.Acquire', 'Intercept.CreateInterceptor'].includes(s.name))
        expect(s.attributes.interception_id, s.name).toBe(r.interception._id);
      expect(s.status.code, s.name).toBe(SpanStatusCode.UNSET);
      expect(s.ended).toBe(true);
    }

    const [up1, tool, up2] = steps as [ReadableSpan, ReadableSpan, ReadableSpan];
    const upstream = new URL(h.upstream.url);
    /** Exactly the GenAI semantic-convention attributes of one upstream call that read this fixture. */
    const genAi = (fixture: string) => {
      const { usage, response_id, stop_reason } = facts[fixture]!;
      return {
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': 'anthropic',
        'gen_ai.request.model': 'claude-test-1',
        ...(streaming ? { 'gen_ai.request.stream': true } : {}),
        'server.address': upstream.hostname,
        'server.port': Number(upstream.port),
        'gen_ai.response.id': response_id,
        'gen_ai.response.model': responseModelOf(fixture),
        'gen_ai.response.finish_reasons': [stop_reason],
        'gen_ai.usage.input_tokens':
          usage!.input_tokens + usage!.cache_read_input_tokens + usage!.cache_write_input_tokens,
        'gen_ai.usage.output_tokens': usage!.output_tokens,
        'gen_ai.usage.cache_read.input_tokens': usage!.cache_read_input_tokens,
        'gen_ai.usage.cache_creation.input_tokens': usage!.cache_write_input_tokens,
        'gen_ai.conversation.id': session,
      };
    };
    expect(up1.kind).toBe(SpanKind.CLIENT);
    expect(conventional(up1)).toEqual(genAi(`anthropic-messages/injected-tool.${ext}`));
    expect(conventional(up2)).toEqual(genAi(`anthropic-messages/client-tool.${ext}`));
    expect(up1.attributes).not.toHaveProperty('gen_ai.system'); // replaced by gen_ai.provider.name
    const mcpServer = new URL(mcp.url);
    const echoCall = r.tools.find((t: any) => t.tool === 'echo');
    expect(tool.attributes).toMatchObject({
      mcp_server_name: 'test',
      mcp_server_url: mcp.url,
      mcp_tool_name: 'echo',
    });
    // The MCP request this span made: the one carrying its traceparent.
    const call = mcp.requests.find((q) => q.traceparent === traceparent(clientTrace, id(tool)));
    expect(call).toMatchObject({ 'rpc.method': 'tools/call', 'mcp-session-id': expect.any(String) });
    expect(conventional(tool)).toEqual({
      'gen_ai.operation.name': 'execute_tool',
      'gen_ai.tool.name': 'echo',
      'gen_ai.tool.call.id': echoCall.tool_call_id,
      'gen_ai.tool.type': 'extension',
      'gen_ai.conversation.id': session,
      'mcp.method.name': 'tools/call',
      'mcp.session.id': call!['mcp-session-id'],
      'mcp.protocol.version': call!['mcp-protocol-version'],
      'jsonrpc.request.id': call!['rpc.id'],
      'server.address': mcpServer.hostname,
      'server.port': Number(mcpServer.port),
    });
    const recordedTools = children.filter((s) => s.name === 'Intercept.RecordToolUsage').map((s) => s.attributes);
    expect(recordedTools).toEqual([
      expect.objectContaining({ tool: 'echo', injected: true }),
      expect.objectContaining({ tool: 'get_weather', injected: false }),
    ]);

    // traceparent reached the upstream (naming each Upstream span) and the MCP server (naming the ToolCall span).
    expect(h.upstream.requests.map((q) => q.headers.traceparent)).toEqual([
      traceparent(clientTrace, id(up1)),
      traceparent(clientTrace, id(up2)),
    ]);
    expect(mcp.requests.map((q) => q.traceparent)).toContain(traceparent(clientTrace, id(tool)));
    return r;
  }

  it('blocking: the whole span tree of one interception, continuing the client trace', async () => {
    const [traceId, parent] = [hex(32), hex(16)];
    h.upstream.enqueue('anthropic-messages/injected-tool.json', 'anthropic-messages/client-tool.json');
    const session = randomUUID();
    const answer = await ask(h, { traceparent: traceparent(traceId, parent), session });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.text).content.some((b: any) => b.type === 'tool_use' && b.name === 'get_weather')).toBe(
      true,
    );
    const r = await expectInterceptionTree(false, traceId, parent, session);
    expect(r.tools.map((t: any) => [t.tool, t.injected])).toEqual([
      ['echo', true],
      ['get_weather', false],
    ]);
  });

  it('streaming: the same tree, with streaming=true', async () => {
    const [traceId, parent] = [hex(32), hex(16)];
    h.upstream.enqueue('anthropic-messages/injected-tool.sse', 'anthropic-messages/client-tool.sse');
    const session = randomUUID();
    const answer = await ask(h, { stream: true, traceparent: traceparent(traceId, parent), session });
    expect(answer.status).toBe(200);
    expect(answer.text).toContain('"name":"get_weather"');
    expect(answer.text).toContain('event: message_stop');
    await expectInterceptionTree(true, traceId, parent, session);
  });

  /** A blocking request whose upstream body breaks: the bridge logs a warning inside the Intercept span. */
  async function brokenInterception() {
    h.upstream.enqueue('anthropic-messages/cut.sse');
    expect((await ask(h)).status).toBe(502);
    const r = await h.records();
    let root: ReadableSpan | undefined;
    await waitUntil(() => {
      root = exporter
        .getFinishedSpans()
        .find((s) => s.name === 'Intercept' && s.attributes.interception_id === r.interception._id);
      return root !== undefined;
    });
    const line = h.bridge.logs.lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.msg === 'upstream call failed' && l.interception_id === r.interception._id);
    return { root: root!, line: line!, tree: spansOf(root!.spanContext().traceId) };
  }

  it('errors set span status; with trace logs on, log lines become span events and carry trace ids', async () => {
    const { root, line, tree } = await brokenInterception();
    expect(root.parentSpanContext).toBeUndefined(); // no traceparent sent: a new trace
    expect(root.status.code).toBe(SpanStatusCode.ERROR);
    for (const name of ['Intercept.ProcessRequest', 'Intercept.ProcessRequest.Upstream'])
      expect(tree.find((s) => s.name === name)?.status.code, name).toBe(SpanStatusCode.ERROR);
    // A generation that never finished: `error` as its finish reason, and a low-cardinality error.type.
    expect(tree.find((s) => s.name === 'Intercept.ProcessRequest.Upstream')?.attributes).toMatchObject({
      'gen_ai.response.finish_reasons': ['error'],
      'error.type': '_OTHER',
    });
    const event = root.events.find((e) => e.name === 'upstream call failed');
    expect(event?.attributes).toMatchObject({
      'log.severity': 'warn',
      'log.interception_id': root.attributes.interception_id,
    });
    expect(line).toMatchObject({ trace_id: root.spanContext().traceId, span_id: id(root) });
  });

  it('with trace logs off, no span events, but log lines still carry trace ids', async () => {
    await tracing.stop();
    await startInMemory(false);
    const { root, line } = await brokenInterception();
    expect(root.status.code).toBe(SpanStatusCode.ERROR);
    expect(root.events).toEqual([]);
    expect(line).toMatchObject({ trace_id: root.spanContext().traceId, span_id: id(root) });
  });

  it('with tracing off, no spans and no trace ids in logs', async () => {
    await tracing.stop();
    const before = exporter.getFinishedSpans().length;
    const { line } = await (async () => {
      h.upstream.enqueue('anthropic-messages/cut.sse');
      expect((await ask(h)).status).toBe(502);
      const r = await h.records();
      const found = h.bridge.logs.lines
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => l.interception_id === r.interception._id);
      return { line: found! };
    })();
    expect(exporter.getFinishedSpans()).toHaveLength(before);
    expect(line).toBeDefined();
    expect(line).not.toHaveProperty('trace_id');
    expect(h.upstream.requests[0]!.headers.traceparent).toBeUndefined();
    await startInMemory(false); // afterAll stops it
  });
});

describe('export over OTLP/HTTP to a real receiver', () => {
  const ENV = [
    'OTEL_EXPORTER_OTLP_ENDPOINT',
    'OTEL_EXPORTER_OTLP_PROTOCOL',
    'OTEL_EXPORTER_OTLP_HEADERS',
    'OTEL_SERVICE_NAME',
    'OTEL_BSP_SCHEDULE_DELAY',
  ];
  afterAll(() => {
    for (const key of ENV) delete process.env[key];
  });

  for (const protocol of ['http/json', 'http/protobuf'] as const) {
    it(`${protocol}: the OTEL_* variables choose endpoint, encoding, headers and service name`, async () => {
      const receiver = await OtlpReceiver.start();
      Object.assign(process.env, {
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
        OTEL_EXPORTER_OTLP_HEADERS: 'x-collector-key=k-123',
        OTEL_SERVICE_NAME: 'aibridge-under-test',
        OTEL_BSP_SCHEDULE_DELAY: '50',
      });
      const h = await startHarness(`tracing-otlp-${protocol}`, { tracing: { enabled: true, logs: false } });
      try {
        h.upstream.enqueue('anthropic-messages/text.json');
        expect((await ask(h)).status).toBe(200);
        const r = await h.records();
        await waitUntil(() => receiver.spans.some((s) => s.name === 'Intercept'));
        const exported = receiver.exports[0]!;
        expect(exported.path).toBe('/v1/traces');
        expect(exported.contentType).toBe(protocol === 'http/json' ? 'application/json' : 'application/x-protobuf');
        expect(exported.headers['x-collector-key']).toBe('k-123');
        expect(exported.serviceName).toBe('aibridge-under-test');
        expect(receiver.spans.some((s) => s.name === 'ServerProxyManager.Init')).toBe(true);

        const root = receiver.spans.find((s) => s.name === 'Intercept')!;
        expect(root.attributes).toEqual({
          interception_id: r.interception._id,
          user_id: h.userId,
          provider: 'anthropic',
          model: 'claude-test-1',
          streaming: false,
          request_path: '/anthropic/v1/messages',
        });
        const tree = receiver.spans.filter((s) => s.traceId === root.traceId);
        const process = tree.find((s) => s.name === 'Intercept.ProcessRequest')!;
        expect(process.parentSpanId).toBe(root.spanId);
        const upstream = tree.find((s) => s.name === 'Intercept.ProcessRequest.Upstream')!;
        expect(upstream.parentSpanId).toBe(process.spanId);
        const text = facts['anthropic-messages/text.json']!;
        expect(upstream.attributes).toMatchObject({
          'gen_ai.provider.name': 'anthropic',
          'gen_ai.response.finish_reasons': [text.stop_reason], // an array attribute survives both encodings
          'gen_ai.usage.output_tokens': text.usage!.output_tokens,
        });
        expect(h.upstream.requests[0]!.headers.traceparent).toBe(traceparent(root.traceId, upstream.spanId));
      } finally {
        await h.close();
        await receiver.close();
      }
    });
  }
});

describe('GenAI histograms over OTLP', () => {
  const ENV = [
    'OTEL_METRICS_EXPORTER',
    'OTEL_EXPORTER_OTLP_ENDPOINT',
    'OTEL_EXPORTER_OTLP_PROTOCOL',
    'OTEL_METRIC_EXPORT_INTERVAL',
    'OTEL_BSP_SCHEDULE_DELAY',
  ];
  afterEach(() => {
    for (const key of ENV) delete process.env[key];
  });

  /** What one upstream call that read `fixture` adds to each histogram, by its attributes. */
  function expectCall(points: ReceivedPoint[], fixture: string, upstream: URL) {
    const { usage } = facts[fixture]!;
    const call = {
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'anthropic',
      'gen_ai.request.model': 'claude-test-1',
      'gen_ai.response.model': responseModelOf(fixture),
      'server.address': upstream.hostname,
      'server.port': Number(upstream.port),
    };
    const latest = (metric: string, type?: string) =>
      points.findLast((p) => p.metric === metric && p.attributes['gen_ai.token.type'] === type);
    expect(latest('gen_ai.client.operation.duration')).toMatchObject({ unit: 's', attributes: call, count: 1 });
    expect(latest('gen_ai.client.operation.duration')!.sum).toBeGreaterThan(0);
    expect(latest('gen_ai.client.operation.duration')!.bounds.slice(0, 3)).toEqual([0.01, 0.02, 0.04]);
    expect(latest('gen_ai.client.token.usage', 'input')).toMatchObject({
      unit: '{token}',
      attributes: { ...call, 'gen_ai.token.type': 'input' },
      count: 1,
      sum: usage!.input_tokens + usage!.cache_read_input_tokens + usage!.cache_write_input_tokens,
    });
    expect(latest('gen_ai.client.token.usage', 'output')).toMatchObject({
      attributes: { ...call, 'gen_ai.token.type': 'output' },
      sum: usage!.output_tokens,
    });
  }

  it('metrics alone (tracing off), http/json: token usage and call duration, a failed call with its error.type', async () => {
    const receiver = await OtlpReceiver.start();
    Object.assign(process.env, {
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_METRIC_EXPORT_INTERVAL: '100',
    });
    const h = await startHarness('gen-ai-metrics-json', { tracing: { enabled: false } });
    try {
      h.upstream.enqueue('anthropic-messages/text.json');
      expect((await ask(h)).status).toBe(200);
      await waitUntil(() => receiver.points.some((p) => p.metric === 'gen_ai.client.token.usage'));
      expectCall(receiver.points, 'anthropic-messages/text.json', new URL(h.upstream.url));
      expect(receiver.exports.every((e) => e.path === '/v1/metrics')).toBe(true); // no spans: tracing is off

      h.upstream.enqueue('anthropic-messages/cut.sse');
      expect((await ask(h)).status).toBe(502);
      await waitUntil(() =>
        receiver.points.some(
          (p) => p.metric === 'gen_ai.client.operation.duration' && p.attributes['error.type'] === '_OTHER',
        ),
      );
    } finally {
      await h.close();
      await receiver.close();
    }
  });

  it('with tracing on, http/protobuf: spans and histograms side by side', async () => {
    const receiver = await OtlpReceiver.start();
    Object.assign(process.env, {
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      OTEL_METRIC_EXPORT_INTERVAL: '100',
      OTEL_BSP_SCHEDULE_DELAY: '50',
    });
    const h = await startHarness('gen-ai-metrics-protobuf', { tracing: { enabled: true, logs: false } });
    try {
      h.upstream.enqueue('anthropic-messages/text.json');
      expect((await ask(h, { session: 'conversation-1' })).status).toBe(200);
      await waitUntil(
        () =>
          receiver.points.some((p) => p.metric === 'gen_ai.client.token.usage') &&
          receiver.spans.some((s) => s.name === 'Intercept'),
      );
      expectCall(receiver.points, 'anthropic-messages/text.json', new URL(h.upstream.url));
      // The conversation is on the spans, never a metric attribute (one series per session would be unbounded).
      expect(receiver.spans.find((s) => s.name === 'Intercept')?.attributes['gen_ai.conversation.id']).toBe(
        'conversation-1',
      );
      expect(receiver.points.some((p) => 'gen_ai.conversation.id' in p.attributes)).toBe(false);
    } finally {
      await h.close();
      await receiver.close();
    }
  });

  it('not configured: no histograms and nothing exported, tracing on or not', async () => {
    const receiver = await OtlpReceiver.start();
    Object.assign(process.env, { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: '50' });
    const h = await startHarness('gen-ai-metrics-off', { tracing: { enabled: true, logs: false } });
    try {
      expect(genAiMetrics.duration).toBeUndefined();
      h.upstream.enqueue('anthropic-messages/text.json');
      expect((await ask(h)).status).toBe(200);
      await waitUntil(() => receiver.spans.some((s) => s.name === 'Intercept'));
    } finally {
      await h.close();
      await receiver.close();
    }
    expect(receiver.exports.map((e) => e.path)).not.toContain('/v1/metrics');
  });
});
