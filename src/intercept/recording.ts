import { randomUUID } from 'node:crypto';
import type { InterceptionTelemetry } from '../observability/interception.ts';
import type { Recorder } from '../recorder/recorder.ts';
import type { InterceptionRecord, InterceptionTotals } from '../recorder/records.ts';
import type { ToolCall, Usage } from './types.ts';

/**
 * Hands one interception's records to the recorder; never waits on the database. Each
 * hand-off is an `Intercept.Record*` span (the hand-off only: the write happens later,
 * in batches) and feeds the prompt, token and tool counters.
 */
export class InterceptionLog {
  readonly id = randomUUID();
  readonly #recorder: Recorder;
  readonly #telemetry: InterceptionTelemetry;
  #promptRecorded = false;
  readonly #totals: InterceptionTotals = {
    input_tokens: 0,
    output_tokens: 0,
    cache_read_input_tokens: 0,
    cache_write_input_tokens: 0,
    tool_calls: 0,
  };

  constructor(
    telemetry: InterceptionTelemetry,
    recorder: Recorder,
    fields: Omit<InterceptionRecord, '_id' | 'ended_at' | 'status' | 'cost_usd' | 'totals'>,
  ) {
    this.#telemetry = telemetry;
    this.#recorder = recorder;
    const span = telemetry.span('Intercept.RecordInterception');
    recorder.record({
      kind: 'interception',
      doc: { _id: this.id, ...fields, ended_at: null, status: null, cost_usd: null, totals: null },
    });
    telemetry.identify(this.id, fields.client);
    span?.setAttribute('interception_id', this.id);
    span?.end();
  }

  prompt(text: string | null, responseId: string | null): void {
    if (this.#promptRecorded || text === null) return;
    this.#promptRecorded = true;
    const span = this.#telemetry.span('Intercept.RecordPromptUsage');
    this.#recorder.record({
      kind: 'user_prompt',
      doc: {
        _id: randomUUID(),
        interception_id: this.id,
        provider_response_id: responseId,
        prompt: text,
        created_at: new Date(),
      },
    });
    span?.end();
    this.#telemetry.prompt();
  }

  tokens(usage: Usage, responseId: string | null): void {
    const span = this.#telemetry.span('Intercept.RecordTokenUsage');
    this.#recorder.record({
      kind: 'token_usage',
      doc: {
        _id: randomUUID(),
        interception_id: this.id,
        provider_response_id: responseId,
        ...usage,
        cost_usd: null,
        created_at: new Date(),
      },
    });
    span?.end();
    for (const key of ['input_tokens', 'output_tokens', 'cache_read_input_tokens', 'cache_write_input_tokens'] as const)
      this.#totals[key] += usage[key];
    this.#telemetry.tokens(usage);
  }

  tool(
    call: ToolCall,
    responseId: string | null,
    fields: {
      tool: string;
      serverUrl: string | null;
      injected: boolean;
      error: string | null;
      metadata?: Record<string, unknown>;
    },
  ): void {
    const span = this.#telemetry.span('Intercept.RecordToolUsage', { tool: fields.tool, injected: fields.injected });
    this.#recorder.record({
      kind: 'tool_usage',
      doc: {
        _id: randomUUID(),
        interception_id: this.id,
        provider_response_id: responseId,
        tool_call_id: call.id,
        server_url: fields.serverUrl,
        tool: fields.tool,
        input: call.arguments,
        injected: fields.injected,
        invocation_error: fields.error,
        output: null,
        duration_ms: null,
        metadata: fields.metadata ?? {},
        created_at: new Date(),
      },
    });
    span?.end();
    this.#totals.tool_calls++;
    if (!fields.injected) this.#telemetry.clientTool(call.name);
  }

  thought(content: string, source: string): void {
    if (!content) return;
    this.#recorder.record({
      kind: 'model_thought',
      doc: { _id: randomUUID(), interception_id: this.id, content, source, created_at: new Date() },
    });
  }

  ended(status: 'completed' | 'failed', metadata?: Record<string, unknown>): void {
    const span = this.#telemetry.span('Intercept.RecordInterceptionEnded', { status });
    this.#recorder.record({
      kind: 'interception_ended',
      id: this.id,
      ended_at: new Date(),
      status,
      cost_usd: null,
      totals: { ...this.#totals },
      metadata,
    });
    span?.end();
    this.#telemetry.finish(status, typeof metadata?.error === 'string' ? metadata.error : undefined);
  }
}

/** Adds one turn's usage to a running total (for the client's summed view). */
export function addUsage(total: Usage | null, usage: Usage | null): Usage | null {
  if (!usage) return total;
  if (!total) return { ...usage, metadata: { ...usage.metadata } };
  return {
    input_tokens: total.input_tokens + usage.input_tokens,
    output_tokens: total.output_tokens + usage.output_tokens,
    cache_read_input_tokens: total.cache_read_input_tokens + usage.cache_read_input_tokens,
    cache_write_input_tokens: total.cache_write_input_tokens + usage.cache_write_input_tokens,
    metadata: total.metadata,
  };
}
