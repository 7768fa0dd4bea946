import { randomUUID } from 'node:crypto';
import type { Recorder } from '../recorder/recorder.ts';
import type { InterceptionRecord } from '../recorder/records.ts';
import type { ToolCall, Usage } from './types.ts';

/** Hands one interception's records to the recorder; never waits on the database. */
export class InterceptionLog {
  readonly id = randomUUID();
  readonly #recorder: Recorder;
  #promptRecorded = false;

  constructor(recorder: Recorder, fields: Omit<InterceptionRecord, '_id' | 'ended_at' | 'status'>) {
    this.#recorder = recorder;
    recorder.record({ kind: 'interception', doc: { _id: this.id, ...fields, ended_at: null, status: null } });
  }

  prompt(text: string | null, responseId: string | null): void {
    if (this.#promptRecorded || text === null) return;
    this.#promptRecorded = true;
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
  }

  tokens(usage: Usage, responseId: string | null): void {
    this.#recorder.record({
      kind: 'token_usage',
      doc: {
        _id: randomUUID(),
        interception_id: this.id,
        provider_response_id: responseId,
        ...usage,
        created_at: new Date(),
      },
    });
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
        metadata: fields.metadata ?? {},
        created_at: new Date(),
      },
    });
  }

  thought(content: string, source: string): void {
    if (!content) return;
    this.#recorder.record({
      kind: 'model_thought',
      doc: { _id: randomUUID(), interception_id: this.id, content, source, created_at: new Date() },
    });
  }

  ended(status: 'completed' | 'failed', metadata?: Record<string, unknown>): void {
    this.#recorder.record({ kind: 'interception_ended', id: this.id, ended_at: new Date(), status, metadata });
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
