import type { ProviderType } from '../providers/registry.ts';
import type { ChainFields } from './chain.ts';

/**
 * The documents of SPEC §6, exactly as stored. Ids are UUID strings chosen by the bridge. The
 * store writer adds the chain's fields (chain.ts) as it writes them; records on their way
 * there (the journal, the audit sinks) have none.
 */

/**
 * Set on a record whose text was cut to `recording.max_field_bytes`: `truncated: true` and,
 * per cut field, its original length in bytes (UTF-8).
 */
export interface Truncation {
  truncated?: true;
  original_bytes?: Record<string, number>;
}

/** Sums over one interception's children, written when it ends; usage summaries read them. */
export interface InterceptionTotals {
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens: number;
  cache_write_input_tokens: number;
  /** Tool calls the model made (injected and client), as recorded in tool_usages. */
  tool_calls: number;
}

export type InterceptionStatus = 'completed' | 'failed';

export interface InterceptionRecord extends ChainFields {
  _id: string;
  initiator_id: string;
  api_key_id: string;
  /** The provider's kind (src/providers/registry.ts). */
  provider: ProviderType;
  provider_name: string;
  model: string;
  client: string;
  user_agent: string | null;
  client_session_id: string | null;
  started_at: Date;
  ended_at: Date | null;
  status: InterceptionStatus | null;
  /** Sum of the token usages' costs; null while running or when a usage had no price (SPEC §13). */
  cost_usd: number | null;
  /** Null while running. */
  totals: InterceptionTotals | null;
  metadata: Record<string, unknown>;
}

export interface UserPromptRecord extends Truncation, ChainFields {
  _id: string;
  interception_id: string;
  provider_response_id: string | null;
  prompt: string;
  created_at: Date;
}

export interface TokenUsageRecord extends ChainFields {
  _id: string;
  interception_id: string;
  provider_response_id: string | null;
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens: number;
  cache_write_input_tokens: number;
  /** USD for this upstream response; null when the model has no price. */
  cost_usd: number | null;
  metadata: Record<string, unknown>;
  created_at: Date;
}

export interface ToolUsageRecord extends Truncation, ChainFields {
  _id: string;
  interception_id: string;
  provider_response_id: string | null;
  tool_call_id: string;
  server_url: string | null;
  tool: string;
  input: string;
  injected: boolean;
  invocation_error: string | null;
  /** Injected calls: the result text given to the model (redacted, cut); null for client tools. */
  output: string | null;
  /** Injected calls: how long the MCP call took; null for client tools. */
  duration_ms: number | null;
  metadata: Record<string, unknown>;
  created_at: Date;
}

export interface ModelThoughtRecord extends Truncation, ChainFields {
  _id: string;
  interception_id: string;
  content: string;
  source: string;
  created_at: Date;
}

export type ChildRecord = UserPromptRecord | TokenUsageRecord | ToolUsageRecord | ModelThoughtRecord;

/** What closes an interception: its outcome and the sums its children add up to. */
export interface InterceptionEnd {
  ended_at: Date;
  status: InterceptionStatus;
  cost_usd: number | null;
  totals: InterceptionTotals;
  /** Merged into the interception's metadata. */
  metadata?: Record<string, unknown>;
}

/** One unit of work for the recorder: insert a document, or close an interception. */
export type RecordOp =
  | { kind: 'interception'; doc: InterceptionRecord }
  | { kind: 'user_prompt'; doc: UserPromptRecord }
  | { kind: 'token_usage'; doc: TokenUsageRecord }
  | { kind: 'tool_usage'; doc: ToolUsageRecord }
  | { kind: 'model_thought'; doc: ModelThoughtRecord }
  | ({ kind: 'interception_ended'; id: string } & InterceptionEnd);

export type RecordKind = RecordOp['kind'];
