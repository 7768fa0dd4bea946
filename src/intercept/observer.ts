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
import type { ToolCallResult, ToolRef } from '../mcp/types.ts';
import { genAiMetrics, metricAttributes } from '../observability/gen-ai-metrics.ts';
import type { Metrics } from '../observability/metrics.ts';
import { failSpan, startSpan, tracing, withSharedAttributes, withSpan } from '../observability/tracing.ts';
import { sumCosts } from '../pricing/cost.ts';
import { CircuitOpenError } from '../providers/errors.ts';
import { recordId } from '../recorder/record-id.ts';
import type { Recorder } from '../recorder/recorder-port.ts';
import type { RecordSanitizer } from '../recorder/sanitize.ts';
import type { InterceptionStatus, InterceptionTotals, KeySource, RecordOp, RoutedFields } from '../store/records.ts';
import type {
  InterceptionEnded,
  InterceptionEvents,
  InterceptionStarted,
  SettledTurn,
  ToolRan,
  UpstreamOutcome,
} from './events.ts';
import {
  conversationAttributes,
  errorType,
  inferenceAttributes,
  responseAttributes,
  toolAttributes,
} from './gen-ai.ts';
import type { ToolCall, Turn, Usage } from './types.ts';

/** USD for one upstream response's usage; null when the model has no price. */
export type CostFunction = (model: string, usage: Usage) => number | null;

export interface ObserverDeps {
  metrics: Metrics;
  recorder: Recorder;
  /** Every record passes through it on its way to the recorder. */
  sanitizer: RecordSanitizer;
  /** The price table (src/pricing); without it every cost is null. */
  cost?: CostFunction;
  /** Told of every priced usage as it is recorded (budgets count it at once). */
  spent?: (usd: number) => void;
  /** Milliseconds since the epoch, for record times; Date.now unless a test gives its own. */
  clock?: () => number;
  /** Told of every call of a client tool (its client may carry it out through the bridge's /mcp). */
  clientCalled?: (callId: string) => void;
}

/** What is known of an interception before its body is understood: for metrics labels and the root span. */
export interface InterceptionStart {
  /**
   * `genAi` is the kind's `gen_ai.provider.name`; `origin` is the upstream's, for the spans'
   * `server.address` and `server.port`.
   */
  provider: { name: string; genAi: string; origin?: string };
  /** The bridged API (`chat`, `responses`, `messages`). */
  api: string;
  /** Route template under the provider prefix, e.g. `/v1/messages` (the metrics' `route`). */
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

/** Tool names kept on an interception, at most: a model inventing names cannot grow it without end. */
const MAX_TOOL_NAMES = 64;

const TOKEN_TYPES = [
  ['input', 'input_tokens'],
  ['output', 'output_tokens'],
  ['cache_read', 'cache_read_input_tokens'],
  ['cache_write', 'cache_write_input_tokens'],
] as const;

/**
 * The one observer of one interception: the loop's events become its records (sanitised, through
 * the Recorder port), its Prometheus series and its spans (README "What is recorded", "Observability") — here and nowhere else.
 * Metrics are plain counter updates; every span call returns at once while tracing is off.
 */
export class InterceptionObserver implements InterceptionEvents {
  readonly id = recordId();
  readonly #deps: ObserverDeps;
  readonly #provider: string;
  readonly #route: string;
  readonly #method: string;
  /** As recorded (and priced); `#modelLabel` is its bounded metrics label. */
  readonly #model: string;
  readonly #modelLabel: string;
  readonly #user: { _id: string; username: string };
  readonly #began = performance.now();
  readonly #root: Span | undefined;
  readonly #rootCtx: Context | undefined;
  readonly #shared: Attributes | undefined;
  /** The GenAI attributes every upstream span of this interception starts with. */
  readonly #inference: Attributes | undefined;
  /** `gen_ai.conversation.id` once the client's session is known (tracing on). */
  #conversation: Attributes = {};
  #client = 'Unknown';
  #recorded = false;
  #prompt: string | null = null;
  #promptRecorded = false;
  #thoughtSource = '';
  #creating: Span | undefined;
  #upstream: Span | undefined;
  /** When the upstream call in flight was sent, for `gen_ai.client.operation.duration`. */
  #sentAt: number | undefined;
  /** The GenAI histograms' attributes of this interception's calls, while they are exported. */
  readonly #genAi: Attributes | undefined;
  #done = false;
  readonly #totals: InterceptionTotals = {
    input_tokens: 0,
    output_tokens: 0,
    cache_read_input_tokens: 0,
    cache_write_input_tokens: 0,
    tool_calls: 0,
  };
  /** Sum of the usages' costs; null once one is unpriced, or when there is no price table. */
  #cost: number | null;
  #lastTime = 0;
  readonly #clock: () => number;
  /** When each running injected call started (by the model's call id), on the records' clock. */
  readonly #toolStarts = new Map<string, number>();
  /** Where an interception through an alias, a key pool or a user's key went; written with its end. */
  #routed: RoutedFields | undefined;
  #keySource: KeySource = 'shared';
  /** The names of the tools called, for `q` `tool:NAME` on a store without joins. */
  readonly #toolNames = new Set<string>();

  constructor(deps: ObserverDeps, start: InterceptionStart) {
    this.#deps = deps;
    this.#clock = deps.clock ?? Date.now;
    this.#provider = start.provider.name;
    this.#route = start.route;
    this.#method = start.method;
    this.#model = start.model;
    this.#modelLabel = deps.metrics.models.value(start.model);
    this.#user = start.user;
    this.#cost = deps.cost ? 0 : null;
    deps.metrics.inflight.labels(this.#provider, this.#modelLabel, this.#route).inc();
    const inference = () =>
      inferenceAttributes({
        provider: start.provider.genAi,
        api: start.api,
        origin: start.provider.origin,
        // The bounded label, as on the metrics: span-metrics connectors turn this attribute into series.
        model: this.#modelLabel,
        streaming: start.streaming,
      });
    if (genAiMetrics.duration) this.#genAi = metricAttributes(inference());
    if (!tracing.tracer) return;
    this.#shared = {
      user_id: start.user._id,
      provider: start.provider.name,
      model: start.model,
      streaming: start.streaming,
      request_path: start.path,
    };
    this.#inference = inference();
    const parent = withSharedAttributes(propagation.extract(ROOT_CONTEXT, start.headers), this.#shared);
    this.#root = startSpan('Intercept', undefined, parent, SpanKind.SERVER);
    this.#rootCtx = this.#root && trace.setSpan(parent, this.#root);
  }

  /** Runs the whole interception with `Intercept` active; one that never reported `ended` ends as failed. */
  async run(fn: () => Promise<void>): Promise<void> {
    try {
      await (this.#rootCtx ? context.with(this.#rootCtx, fn) : fn());
    } catch (err) {
      this.ended({ status: 'failed', metadata: { error: err instanceof Error ? err.message : String(err) } });
      throw err;
    } finally {
      this.ended({ status: 'failed', metadata: {} });
    }
  }

  started(started: InterceptionStarted): void {
    this.#creating = this.#span('Intercept.CreateInterceptor');
    this.#client = started.record.client;
    this.#prompt = started.prompt;
    this.#thoughtSource = started.thoughtSource;
    const span = this.#span('Intercept.RecordInterception');
    this.#record({
      kind: 'interception',
      doc: { _id: this.id, ...started.record, ended_at: null, status: null, cost_usd: null, totals: null },
    });
    this.#recorded = true;
    for (const result of started.toolResults ?? []) {
      this.#record({
        kind: 'tool_result',
        doc: {
          _id: recordId(),
          interception_id: this.id,
          initiator_id: this.#user._id,
          tool_call_id: result.callId,
          output: result.output,
          is_error: result.isError,
          created_at: this.#now(),
        },
      });
    }
    if (this.#shared) this.#shared.interception_id = this.id;
    this.#root?.setAttribute('interception_id', this.id);
    if (this.#inference) {
      // The client's session is the conversation: on the root, and on every call made from here on.
      this.#conversation = conversationAttributes(started.record.client_session_id);
      Object.assign(this.#inference, this.#conversation);
      this.#root?.setAttributes(this.#conversation);
    }
    span?.setAttribute('interception_id', this.id);
    span?.end();
  }

  async processing<T extends { status: InterceptionStatus }>(fn: () => Promise<T>): Promise<T> {
    this.#creating?.end();
    this.#creating = undefined;
    const span = this.#span('Intercept.ProcessRequest');
    try {
      const result = await withSpan(span, fn);
      if (result.status === 'failed') failSpan(span, 'interception failed');
      return result;
    } catch (err) {
      failSpan(span, err);
      throw err;
    } finally {
      this.#endUpstream('no complete response');
      span?.end();
    }
  }

  /**
   * `Intercept.ProcessRequest.Upstream` is active while the request is sent, so its `traceparent`
   * names it. A call its open circuit refused is counted as a refusal.
   */
  async upstreamStarted<T>(send: () => Promise<T>): Promise<T> {
    this.#endUpstream('no complete response');
    const sent = performance.now();
    this.#sentAt = sent;
    this.#upstream = startSpan('Intercept.ProcessRequest.Upstream', this.#inference, undefined, SpanKind.CLIENT);
    let response: T;
    try {
      response = await withSpan(this.#upstream, send);
    } catch (err) {
      const open = err instanceof CircuitOpenError;
      if (open) this.#deps.metrics.refusal(this.#provider, 'circuit_open');
      this.#endUpstream(err, open ? 'circuit_open' : errorType(err));
      throw err;
    }
    this.#deps.metrics.ttfb.labels(this.#provider, this.#modelLabel).observe((performance.now() - sent) / 1000);
    return response;
  }

  upstreamEnded(outcome: UpstreamOutcome): void {
    if (!('turn' in outcome)) {
      this.#endUpstream(outcome.error, errorType(outcome.status));
      return;
    }
    const { turn } = outcome;
    const span = this.#upstream;
    this.#upstream = undefined;
    span?.setAttributes(responseAttributes(turn));
    span?.end();
    this.#measureCall(turn);
    this.#recordPrompt(turn.responseId);
    if (turn.usage) this.#recordTokens(turn.usage, turn.responseId);
    for (const thought of turn.thoughts) this.#recordThought(thought);
  }

  turnSettled({ turn, clientCalls, notRun }: SettledTurn): void {
    for (const call of clientCalls) {
      this.#recordTool(call, turn.responseId, this.#now(), { tool: call.name, server_url: null, injected: false });
      this.#deps.clientCalled?.(call.id);
      this.#deps.metrics.clientTools
        .labels(this.#provider, this.#modelLabel, this.#deps.metrics.clientToolNames.value(call.name))
        .inc();
    }
    for (const { call, claim, reason } of notRun) {
      this.#recordTool(call, turn.responseId, this.#now(), {
        tool: claim.tool.rawName,
        server_url: claim.tool.serverUrl,
        injected: true,
        invocation_error: reason,
        metadata: { server: claim.tool.server },
      });
    }
  }

  /**
   * `Intercept.ProcessRequest.ToolCall`, active while the call runs so the MCP request carries
   * its `traceparent`; a tool error marks it.
   */
  async toolStarted(tool: ToolRef, callId: string, run: () => Promise<ToolCallResult>): Promise<ToolCallResult> {
    // After every record of the response that asked for it, on the same clock (see #toolEnd).
    this.#toolStarts.set(callId, this.#now().getTime());
    // The attributes parse a URL: built only when there is a span to put them on.
    const span = tracing.tracer
      ? startSpan(
          'Intercept.ProcessRequest.ToolCall',
          {
            mcp_server_name: tool.server,
            mcp_server_url: tool.serverUrl,
            mcp_tool_name: tool.rawName,
            ...toolAttributes(tool, callId),
            ...this.#conversation,
          },
          undefined,
          SpanKind.CLIENT,
        )
      : undefined;
    try {
      const result = await withSpan(span, run);
      if (result.isError) {
        span?.setAttribute('error.type', 'tool_error'); // the MCP conventions' value for a result with isError
        failSpan(span, result.error ?? 'tool error');
      }
      return result;
    } catch (err) {
      span?.setAttribute('error.type', errorType(err));
      failSpan(span, err);
      throw err;
    } finally {
      span?.end();
    }
  }

  toolRan({ call, claim, responseId, result, output }: ToolRan): void {
    this.#recordTool(call, responseId, this.#toolEnd(call.id, result.durationMs), {
      tool: claim.tool.rawName,
      server_url: claim.tool.serverUrl,
      injected: true,
      invocation_error: result.error,
      output,
      duration_ms: result.durationMs,
      metadata: { server: claim.tool.server },
    });
    // A made-up name is not a series of its own: the model chooses it.
    const name = claim.listed ? claim.tool.rawName : 'unknown';
    const status = result.isError ? 'error' : 'ok';
    this.#deps.metrics.injectedTools.labels(this.#provider, this.#modelLabel, claim.tool.server, name, status).inc();
    if (!claim.refusal)
      this.#deps.metrics.toolDuration.labels(claim.tool.server, name).observe(result.durationMs / 1000);
  }

  /**
   * The wiring's word on where the interception went (README "Aliases and fallbacks"): the target
   * that answered, each attempt, and whose key; recorded with the end, and `key_source` labels
   * its metrics from now on.
   */
  routed(routed: RoutedFields): void {
    this.#routed = routed;
    this.#keySource = routed.key_source;
  }

  /**
   * Only the first call counts; the end is recorded only for an interception that was. Returns
   * what the recorder says to wait for before the response's last bytes (its journal write).
   */
  ended({ status, metadata }: InterceptionEnded): Promise<void> | undefined {
    if (this.#done) return undefined;
    this.#done = true;
    this.#creating?.end();
    this.#endUpstream('no complete response');
    if (this.#recorded) {
      this.#recordPrompt(null);
      const span = this.#span('Intercept.RecordInterceptionEnded', { status });
      this.#record({
        kind: 'interception_ended',
        id: this.id,
        ended_at: this.#now(),
        status,
        cost_usd: this.#cost,
        totals: this.#toolNames.size ? { ...this.#totals, tools: [...this.#toolNames].sort() } : { ...this.#totals },
        metadata: Object.keys(metadata).length ? metadata : undefined,
        ...(this.#routed ? { routed: { ...this.#routed, attempts: [...this.#routed.attempts] } } : {}),
      });
      span?.end();
    }
    const m = this.#deps.metrics;
    m.inflight.labels(this.#provider, this.#modelLabel, this.#route).dec();
    m.interceptions
      .labels(
        this.#provider,
        this.#modelLabel,
        status,
        this.#route,
        this.#method,
        this.#user._id,
        this.#client,
        this.#keySource,
      )
      .inc();
    m.duration.labels(this.#provider, this.#modelLabel).observe((performance.now() - this.#began) / 1000);
    m.userInfo.labels(this.#user._id, this.#user.username).set(1);
    if (this.#root) {
      if (status === 'failed') {
        const error = metadata.error;
        failSpan(this.#root, typeof error === 'string' ? error : 'interception failed');
      }
      this.#root.end();
    }
    return this.#recorded ? this.#deps.recorder.durable?.() : undefined;
  }

  /** The one place records are built into: sanitised (redacted, cut), then handed to the recorder. */
  #record(op: RecordOp): void {
    this.#deps.recorder.record(this.#deps.sanitizer.apply(op));
  }

  /** A child of `Intercept`, wherever it is started from (the Record* hand-offs). */
  #span(name: string, attributes?: Attributes): Span | undefined {
    return startSpan(name, attributes, this.#rootCtx);
  }

  /** Ends the upstream span as failed; the conventions want `error` as the finish reason of a generation that never finished. */
  #endUpstream(reason: unknown, type = '_OTHER'): void {
    this.#measureCall(undefined, type);
    const span = this.#upstream;
    if (!span) return;
    this.#upstream = undefined;
    span.setAttributes({ 'error.type': type, 'gen_ai.response.finish_reasons': ['error'] });
    failSpan(span, reason);
    span.end();
  }

  /**
   * One upstream call into the GenAI histograms (when exported): its duration, failed or not,
   * and the tokens of a response; input counts cached tokens too, as on the spans.
   */
  #measureCall(turn: Turn | undefined, error?: string): void {
    const sent = this.#sentAt;
    this.#sentAt = undefined;
    const { duration, tokens } = genAiMetrics;
    if (sent === undefined || !this.#genAi || !duration || !tokens) return;
    const attributes: Attributes = { ...this.#genAi };
    if (turn?.responseModel) attributes['gen_ai.response.model'] = this.#deps.metrics.models.value(turn.responseModel);
    if (error) attributes['error.type'] = error;
    duration.record((performance.now() - sent) / 1000, attributes);
    const u = turn?.usage;
    if (!u) return;
    const input = u.input_tokens + u.cache_read_input_tokens + u.cache_write_input_tokens;
    tokens.record(input, { ...attributes, 'gen_ai.token.type': 'input' });
    tokens.record(u.output_tokens, { ...attributes, 'gen_ai.token.type': 'output' });
  }

  /**
   * Record times of one interception strictly increase, so children written in the same
   * millisecond (parallel tool calls) keep their order on every store. They may run a few
   * milliseconds ahead of the clock when many records fall in one.
   */
  #now(): Date {
    return this.#at(this.#clock());
  }

  #at(ms: number): Date {
    this.#lastTime = Math.max(ms, this.#lastTime + 1);
    return new Date(this.#lastTime);
  }

  /**
   * An injected call's record time (its end). Readers place its start at `created_at −
   * duration_ms` (the console's timeline does): that must not fall before the response that
   * asked for it, though record times may run ahead of the clock and the duration, measured
   * apart, may round up. So the end is at least its start on the records' clock plus the whole
   * duration: cause before effect.
   */
  #toolEnd(callId: string, durationMs: number): Date {
    const started = this.#toolStarts.get(callId);
    this.#toolStarts.delete(callId);
    const end = this.#clock();
    return this.#at(started === undefined ? end : Math.max(end, started + Math.ceil(durationMs)));
  }

  #recordPrompt(responseId: string | null): void {
    if (this.#promptRecorded || this.#prompt === null || !this.#recorded) return;
    this.#promptRecorded = true;
    const span = this.#span('Intercept.RecordPromptUsage');
    this.#record({
      kind: 'user_prompt',
      doc: {
        _id: recordId(),
        interception_id: this.id,
        provider_response_id: responseId,
        prompt: this.#prompt,
        created_at: this.#now(),
      },
    });
    span?.end();
    this.#deps.metrics.prompts.labels(this.#provider, this.#modelLabel, this.#user._id, this.#client).inc();
  }

  #recordTokens(usage: Usage, responseId: string | null): void {
    // PRICING: the one place a usage is priced; the interception's cost is the sum, null if any is unpriced.
    const cost = this.#deps.cost ? this.#deps.cost(this.#model, usage) : null;
    this.#cost = this.#cost === null ? null : sumCosts([this.#cost, cost]);
    const span = this.#span('Intercept.RecordTokenUsage');
    this.#record({
      kind: 'token_usage',
      doc: {
        _id: recordId(),
        interception_id: this.id,
        provider_response_id: responseId,
        ...usage,
        cost_usd: cost,
        created_at: this.#now(),
      },
    });
    span?.end();
    const metrics = this.#deps.metrics;
    if (cost !== null) {
      metrics.cost.labels(this.#provider, this.#modelLabel, this.#client, this.#keySource).inc(cost);
      this.#deps.spent?.(cost);
    } else if (this.#deps.cost) {
      const tokens = TOKEN_TYPES.reduce((n, [, key]) => n + usage[key], 0);
      if (tokens > 0) metrics.unpricedTokens.labels(this.#modelLabel).inc(tokens);
    }
    for (const [type, key] of TOKEN_TYPES) {
      this.#totals[key] += usage[key];
      if (usage[key] > 0)
        this.#deps.metrics.tokens
          .labels(this.#provider, this.#modelLabel, type, this.#user._id, this.#client)
          .inc(usage[key]);
    }
  }

  #recordThought(content: string): void {
    if (!content) return;
    this.#record({
      kind: 'model_thought',
      doc: {
        _id: recordId(),
        interception_id: this.id,
        content,
        source: this.#thoughtSource,
        created_at: this.#now(),
      },
    });
  }

  #recordTool(
    call: ToolCall,
    responseId: string | null,
    at: Date,
    fields: {
      tool: string;
      server_url: string | null;
      injected: boolean;
      invocation_error?: string | null;
      output?: string;
      duration_ms?: number;
      metadata?: Record<string, unknown>;
    },
  ): void {
    const span = this.#span('Intercept.RecordToolUsage', { tool: fields.tool, injected: fields.injected });
    this.#record({
      kind: 'tool_usage',
      doc: {
        _id: recordId(),
        interception_id: this.id,
        initiator_id: this.#user._id,
        provider_response_id: responseId,
        tool_call_id: call.id,
        server_url: fields.server_url,
        tool: fields.tool,
        input: call.arguments,
        injected: fields.injected,
        invocation_error: fields.invocation_error ?? null,
        output: fields.output ?? null,
        duration_ms: fields.duration_ms ?? null,
        ...(fields.injected ? {} : { is_error: null, result_at: null, result_interception_id: null }),
        metadata: fields.metadata ?? {},
        created_at: at,
      },
    });
    span?.end();
    this.#totals.tool_calls++;
    if (this.#toolNames.size < MAX_TOOL_NAMES) this.#toolNames.add(fields.tool);
  }
}
