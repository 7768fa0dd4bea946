import type { IncomingHttpHeaders } from 'node:http';
import {
  type Attributes,
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  trace,
} from '@opentelemetry/api';
import type { Usage } from '../intercept/types.ts';
import type { InjectedTool, ToolCallResult } from '../mcp/types.ts';
import type { Metrics } from './metrics.ts';
import { failSpan, startSpan, tracing, withSharedAttributes, withSpan } from './tracing.ts';

export interface InterceptionStart {
  provider: { name: string; type: string };
  /** API route template under the provider prefix, e.g. `/v1/messages`. */
  route: string;
  method: string;
  /** The path the client called, without the query. */
  path: string;
  user: { _id: string; username: string };
  model: string;
  streaming: boolean;
  /** The client's headers, for a W3C `traceparent` to continue. */
  headers: IncomingHttpHeaders;
}

const TOKEN_TYPES = [
  ['input', 'input_tokens'],
  ['output', 'output_tokens'],
  ['cache_read', 'cache_read_input_tokens'],
  ['cache_write', 'cache_write_input_tokens'],
] as const;

/**
 * Metrics and spans of one interception. Metrics are plain counter updates at turn and
 * interception end; every span method returns at once when tracing is off.
 */
export class InterceptionTelemetry {
  readonly #metrics: Metrics;
  readonly #provider: string;
  readonly #system: string;
  readonly #route: string;
  readonly #method: string;
  /** The model's metric label (bounded: may be `other`); spans carry the real name. */
  readonly #model: string;
  readonly #modelName: string;
  readonly #user: { _id: string; username: string };
  readonly #started = performance.now();
  readonly #root: Span | undefined;
  readonly #rootCtx: Context | undefined;
  readonly #shared: Attributes | undefined;
  #client = 'Unknown';
  #upstream: Span | undefined;
  #done = false;

  constructor(metrics: Metrics, start: InterceptionStart) {
    this.#metrics = metrics;
    this.#provider = start.provider.name;
    this.#system = start.provider.type;
    this.#route = start.route;
    this.#method = start.method;
    this.#model = metrics.models.value(start.model);
    this.#modelName = start.model;
    this.#user = start.user;
    metrics.inflight.labels(this.#provider, this.#model, this.#route).inc();
    if (!tracing.tracer) return;
    this.#shared = {
      user_id: start.user._id,
      provider: start.provider.name,
      model: start.model,
      streaming: start.streaming,
      request_path: start.path,
    };
    const parent = withSharedAttributes(propagation.extract(ROOT_CONTEXT, start.headers), this.#shared);
    this.#root = startSpan('Intercept', undefined, parent, SpanKind.SERVER);
    this.#rootCtx = this.#root && trace.setSpan(parent, this.#root);
  }

  /** Runs the interception with the `Intercept` span active; ends it (as failed) if fn never reached finish(). */
  async run(fn: () => Promise<void>): Promise<void> {
    try {
      await (this.#rootCtx ? context.with(this.#rootCtx, fn) : fn());
    } catch (err) {
      this.finish('failed', err instanceof Error ? err.message : String(err));
      throw err;
    } finally {
      this.finish('failed');
    }
  }

  /** The interception's record id and classified client, known once it is recorded. */
  identify(interceptionId: string, client: string): void {
    this.#client = client;
    if (!this.#shared) return;
    this.#shared.interception_id = interceptionId;
    this.#root?.setAttribute('interception_id', interceptionId);
  }

  /** A child of `Intercept` (whatever span is active), e.g. the Record* hand-offs. */
  span(name: string, attributes?: Attributes): Span | undefined {
    return startSpan(name, attributes, this.#rootCtx);
  }

  /** Runs the tool loop inside `Intercept.ProcessRequest`; an upstream span left open is closed with it. */
  async processRequest(fn: () => Promise<'completed' | 'failed'>): Promise<'completed' | 'failed'> {
    const span = this.span('Intercept.ProcessRequest');
    if (!span) return fn();
    try {
      const status = await withSpan(span, fn);
      if (status === 'failed') failSpan(span, 'interception failed');
      return status;
    } catch (err) {
      failSpan(span, err);
      throw err;
    } finally {
      this.upstreamDone(null, 'no complete response');
      span.end();
    }
  }

  /** One upstream call: `Intercept.ProcessRequest.Upstream` is active while it is sent (so `traceparent` names it). */
  async upstream<T>(send: () => Promise<T>): Promise<T> {
    this.upstreamDone(null, 'no complete response');
    const started = performance.now();
    this.#upstream = startSpan(
      'Intercept.ProcessRequest.Upstream',
      { 'gen_ai.system': this.#system, 'gen_ai.request.model': this.#modelName },
      undefined,
      SpanKind.CLIENT,
    );
    const response = await withSpan(this.#upstream, send);
    this.#metrics.ttfb.labels(this.#provider, this.#model).observe((performance.now() - started) / 1000);
    return response;
  }

  /** Ends the current upstream span once its response is read: usage as GenAI attributes, or why it failed. */
  upstreamDone(usage: Usage | null, error?: string): void {
    const span = this.#upstream;
    if (!span) return;
    this.#upstream = undefined;
    if (usage) {
      span.setAttributes({
        // GenAI conventions count cached prompt tokens as input too.
        'gen_ai.usage.input_tokens':
          usage.input_tokens + usage.cache_read_input_tokens + usage.cache_write_input_tokens,
        'gen_ai.usage.output_tokens': usage.output_tokens,
        'gen_ai.usage.cache_read.input_tokens': usage.cache_read_input_tokens,
        'gen_ai.usage.cache_creation.input_tokens': usage.cache_write_input_tokens,
      });
    }
    if (error) failSpan(span, error);
    span.end();
  }

  /** One injected tool call the bridge ran (`name` is the tool's name on its MCP server). */
  toolInvoked(server: string, name: string, ok: boolean, durationMs: number): void {
    this.#metrics.injectedTools.labels(this.#provider, this.#model, server, name, ok ? 'ok' : 'error').inc();
    this.#metrics.toolDuration.labels(server, name).observe(durationMs / 1000);
  }

  prompt(): void {
    this.#metrics.prompts.labels(this.#provider, this.#model, this.#user._id, this.#client).inc();
  }

  tokens(usage: Usage): void {
    for (const [type, key] of TOKEN_TYPES) {
      const count = usage[key];
      if (count > 0)
        this.#metrics.tokens.labels(this.#provider, this.#model, type, this.#user._id, this.#client).inc(count);
    }
  }

  clientTool(name: string): void {
    this.#metrics.clientTools.labels(this.#provider, this.#model, this.#metrics.clientToolNames.value(name)).inc();
  }

  /** Counts the interception and ends its root span; only the first call counts. */
  finish(status: 'completed' | 'failed', error?: string): void {
    if (this.#done) return;
    this.#done = true;
    const m = this.#metrics;
    m.inflight.labels(this.#provider, this.#model, this.#route).dec();
    m.interceptions
      .labels(this.#provider, this.#model, status, this.#route, this.#method, this.#user._id, this.#client)
      .inc();
    m.duration.labels(this.#provider, this.#model).observe((performance.now() - this.#started) / 1000);
    m.userInfo.labels(this.#user._id, this.#user.username).set(1);
    if (!this.#root) return;
    if (status === 'failed') failSpan(this.#root, error ?? 'interception failed');
    this.#root.end();
  }
}

/**
 * `Intercept.ProcessRequest.ToolCall` around one injected call, active while it runs so the
 * MCP request carries its `traceparent`. A tool error marks the span. Just fn() when tracing is off.
 */
export async function traceToolCall(
  tool: InjectedTool | undefined,
  name: string,
  fn: () => Promise<ToolCallResult>,
): Promise<ToolCallResult> {
  const span = startSpan(
    'Intercept.ProcessRequest.ToolCall',
    {
      mcp_server_name: tool?.server ?? 'unknown',
      mcp_server_url: tool?.serverUrl ?? '',
      mcp_tool_name: tool?.rawName ?? name,
    },
    undefined,
    SpanKind.CLIENT,
  );
  if (!span) return fn();
  try {
    const result = await withSpan(span, fn);
    if (result.isError) failSpan(span, result.error ?? 'tool error');
    return result;
  } catch (err) {
    failSpan(span, err);
    throw err;
  } finally {
    span.end();
  }
}
