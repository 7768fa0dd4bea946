import { randomUUID } from 'node:crypto';
import type { InterceptionRecord, ToolUsageRecord, UserPromptRecord } from '../../src/store/records.ts';

/** An ended OpenAI interception by Codex, for tests that need records in a store; override what matters. */
export function interceptionRecord(fields: Partial<InterceptionRecord> = {}): InterceptionRecord {
  const started = fields.started_at ?? new Date();
  return {
    _id: randomUUID(),
    initiator_id: 'u1',
    api_key_id: 'k1',
    provider: 'openai',
    provider_name: 'openai',
    model: 'gpt-5',
    client: 'Codex',
    user_agent: null,
    client_session_id: null,
    started_at: started,
    ended_at: started,
    status: 'completed',
    cost_usd: null,
    totals: null,
    metadata: {},
    ...fields,
  };
}

/** A prompt of an interception, recorded when it started; override what matters. */
export function promptRecord(
  interception: Pick<InterceptionRecord, '_id' | 'started_at'>,
  prompt: string,
  fields: Partial<UserPromptRecord> = {},
): UserPromptRecord {
  return {
    _id: randomUUID(),
    interception_id: interception._id,
    provider_response_id: null,
    prompt,
    created_at: interception.started_at,
    ...fields,
  };
}

/** A client tool call (not injected, nothing captured) of an interception; override what matters. */
export function toolUsageRecord(
  interception: Pick<InterceptionRecord, '_id' | 'started_at'>,
  fields: Partial<ToolUsageRecord> = {},
): ToolUsageRecord {
  return {
    _id: randomUUID(),
    interception_id: interception._id,
    provider_response_id: null,
    tool_call_id: 'call_1',
    server_url: null,
    tool: 'Bash',
    input: '{}',
    injected: false,
    invocation_error: null,
    output: null,
    duration_ms: null,
    metadata: {},
    created_at: interception.started_at,
    ...fields,
  };
}
