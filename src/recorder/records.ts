/** The documents of SPEC §6, exactly as stored. Ids are UUID strings chosen by the bridge. */

export interface InterceptionRecord {
  _id: string;
  initiator_id: string;
  api_key_id: string;
  provider: 'openai' | 'anthropic';
  provider_name: string;
  model: string;
  client: string;
  user_agent: string | null;
  client_session_id: string | null;
  started_at: Date;
  ended_at: Date | null;
  status: 'completed' | 'failed' | null;
  metadata: Record<string, unknown>;
}

export interface UserPromptRecord {
  _id: string;
  interception_id: string;
  provider_response_id: string | null;
  prompt: string;
  created_at: Date;
}

export interface TokenUsageRecord {
  _id: string;
  interception_id: string;
  provider_response_id: string | null;
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens: number;
  cache_write_input_tokens: number;
  metadata: Record<string, unknown>;
  created_at: Date;
}

export interface ToolUsageRecord {
  _id: string;
  interception_id: string;
  provider_response_id: string | null;
  tool_call_id: string;
  server_url: string | null;
  tool: string;
  input: string;
  injected: boolean;
  invocation_error: string | null;
  metadata: Record<string, unknown>;
  created_at: Date;
}

export interface ModelThoughtRecord {
  _id: string;
  interception_id: string;
  content: string;
  source: string;
  created_at: Date;
}

/** One unit of work for the recorder: insert a document, or close an interception. */
export type RecordOp =
  | { kind: 'interception'; doc: InterceptionRecord }
  | { kind: 'user_prompt'; doc: UserPromptRecord }
  | { kind: 'token_usage'; doc: TokenUsageRecord }
  | { kind: 'tool_usage'; doc: ToolUsageRecord }
  | { kind: 'model_thought'; doc: ModelThoughtRecord }
  | {
      kind: 'interception_ended';
      id: string;
      ended_at: Date;
      status: 'completed' | 'failed';
      metadata?: Record<string, unknown>;
    };
