import type { ChainFields } from './chain.ts';

/**
 * The documents README "What is recorded" describes, exactly as stored. Ids are UUID strings chosen by the bridge. The
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
  /**
   * The distinct names of those tools, sorted (at most 64): what `q` `tool:NAME` matches on a
   * store without joins. Absent on interceptions recorded before it was kept.
   */
  tools?: string[];
}

export type InterceptionStatus = 'completed' | 'failed';

/** Whose key a call went upstream with: the provider's configured one(s), or the user's own (README "Bring your own key"). */
export type KeySource = 'shared' | 'user';

/** One target an interception's first call tried (README "Aliases and fallbacks"). */
export interface Attempt {
  provider_name: string;
  model: string;
  /** The upstream's HTTP status; null when none came (a connect error, a timeout, no usable key). */
  status: number | null;
  /** Why it was left for the next target; null for the attempt that answered. */
  error: string | null;
}

/** The fields an interception through an alias, a key pool or a user's key carries (README "Keys, aliases and fallbacks"). */
export interface Routing {
  /** The model the client asked for (an alias, or the model itself). */
  requested_model: string;
  attempts: Attempt[];
  key_source: KeySource;
}

export interface InterceptionRecord extends ChainFields {
  _id: string;
  initiator_id: string;
  api_key_id: string;
  /** The provider's kind: a type src/providers/registry.ts lists (checked where the config is read). */
  provider: string;
  provider_name: string;
  model: string;
  client: string;
  user_agent: string | null;
  client_session_id: string | null;
  started_at: Date;
  ended_at: Date | null;
  status: InterceptionStatus | null;
  /** Sum of the token usages' costs; null while running or when a usage had no price (README "Cost and budgets"). */
  cost_usd: number | null;
  /** Null while running. */
  totals: InterceptionTotals | null;
  metadata: Record<string, unknown>;
  /** Set through an alias, a key pool or a user's key; `provider`, `provider_name` and `model` then name the target that answered. */
  requested_model?: string;
  attempts?: Attempt[];
  key_source?: KeySource;
}

/** What an interception's end may say of where it went: the target that answered, and every attempt. */
export type RoutedFields = Pick<InterceptionRecord, 'provider' | 'provider_name' | 'model'> & Routing;

/** The routed fields of an interception that went through an alias, a key pool or a user's key; undefined otherwise. */
export function routedOf(doc: InterceptionRecord): RoutedFields | undefined {
  if (doc.requested_model === undefined || doc.key_source === undefined) return undefined;
  const { provider, provider_name, model, requested_model, attempts = [], key_source } = doc;
  return { provider, provider_name, model, requested_model, attempts, key_source };
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
  /**
   * The interception's initiator, copied here so a client tool's result, which a later request
   * carries, finds its call by (initiator, tool_call_id) through an index. Absent on calls
   * recorded before results were (they are never matched).
   */
  initiator_id?: string;
  provider_response_id: string | null;
  tool_call_id: string;
  server_url: string | null;
  tool: string;
  input: string;
  injected: boolean;
  invocation_error: string | null;
  /**
   * Injected calls: the result text given to the model. Client tools: the result the client
   * sent back in a later request, once it came (null until then). Redacted and cut either way.
   */
  output: string | null;
  /** Injected calls: how long the MCP call took; null for client tools. */
  duration_ms: number | null;
  /** Client tools: whether the client marked its result an error (null where the API has no such mark, or no result came). */
  is_error?: boolean | null;
  /** Client tools: when the request carrying the result arrived. */
  result_at?: Date | null;
  /** Client tools: the interception whose request carried the result. */
  result_interception_id?: string | null;
  metadata: Record<string, unknown>;
  created_at: Date;
}

/**
 * A client tool's result, as a later request of the same user carried it (README "What is
 * recorded"). A record of its own — journaled, streamed to the audit sinks and chained like any
 * other — that the stores apply as an update: the newest client tool usage of `initiator_id`
 * with this `tool_call_id` that has no result yet gains `output`, `is_error`, `result_at`
 * (this record's `created_at`) and `result_interception_id` (its `interception_id`). A result
 * that matches no such call changes nothing; applying it again changes nothing either.
 */
export interface ToolResultRecord extends Truncation {
  _id: string;
  /** The interception whose request carried the result. */
  interception_id: string;
  initiator_id: string;
  tool_call_id: string;
  output: string;
  /** Anthropic's `is_error`; null for OpenAI's APIs, which have no such mark. */
  is_error: boolean | null;
  created_at: Date;
}

/**
 * Work context an agent attached to its session (README "Work context"): through the bridge's
 * own MCP tool `annotate_work`, in-loop or at `/mcp`.
 */
export interface AnnotationRecord extends Truncation, ChainFields {
  _id: string;
  /** The interception it was made in (injected tool), or the caller's latest one; null when none was found. */
  interception_id: string | null;
  client_session_id: string | null;
  initiator_id: string;
  repo: string | null;
  branch: string | null;
  issue_urls: string[];
  pr_urls: string[];
  note: string | null;
  created_at: Date;
}

export interface ModelThoughtRecord extends Truncation, ChainFields {
  _id: string;
  interception_id: string;
  content: string;
  source: string;
  created_at: Date;
}

export type ChildRecord =
  | UserPromptRecord
  | TokenUsageRecord
  | ToolUsageRecord
  | ModelThoughtRecord
  | ToolResultRecord
  | AnnotationRecord;

/** What closes an interception: its outcome and the sums its children add up to. */
export interface InterceptionEnd {
  ended_at: Date;
  status: InterceptionStatus;
  cost_usd: number | null;
  totals: InterceptionTotals;
  /** Merged into the interception's metadata. */
  metadata?: Record<string, unknown>;
  /** Replaces these fields of the interception (it went through an alias, a key pool or a user's key). */
  routed?: RoutedFields;
}

/**
 * One unit of work for the recorder: insert a document, close an interception, or give a client
 * tool call its result (an update the stores make of an earlier tool usage).
 */
export type RecordOp =
  | { kind: 'interception'; doc: InterceptionRecord }
  | { kind: 'user_prompt'; doc: UserPromptRecord }
  | { kind: 'token_usage'; doc: TokenUsageRecord }
  | { kind: 'tool_usage'; doc: ToolUsageRecord }
  | { kind: 'model_thought'; doc: ModelThoughtRecord }
  | { kind: 'tool_result'; doc: ToolResultRecord }
  | { kind: 'annotation'; doc: AnnotationRecord }
  | ({ kind: 'interception_ended'; id: string } & InterceptionEnd);

export type RecordKind = RecordOp['kind'];
