import type { InjectedTool, ToolCallResult } from '../mcp/types.ts';
import type { CostHints } from '../pricing/estimate.ts';
import type { BridgeErrorKind } from '../providers/errors.ts';
import type { ApiFamily } from '../providers/kind.ts';
import type { SseEvent } from '../providers/sse.ts';
import type { Usage } from '../store/figures.ts';
import type { ClientView } from './client-view.ts';
import type { Json } from './json.ts';

export type { Json, Usage };

export interface ToolCall {
  id: string;
  name: string;
  /** JSON text of the arguments, as the model produced it. */
  arguments: string;
}

/** The result of one of the client's own tools, as a request carries it back (recorded on the call). */
export interface ClientToolResult {
  /** The tool_call_id it answers. */
  callId: string;
  /** Its text: text parts joined by newlines, other parts described. */
  output: string;
  /** Anthropic's is_error; null where the API has no such mark. */
  isError: boolean | null;
}

/** What one upstream response amounted to. */
export interface Turn {
  responseId: string | null;
  /** The model that answered, as the upstream named it (often a dated version of the requested one). */
  responseModel: string | null;
  /** Why generation stopped, in the API's own words (`end_turn`, `tool_calls`, `completed`…); one per choice. */
  finishReasons: string[];
  usage: Usage | null;
  toolCalls: ToolCall[];
  thoughts: string[];
  /** The assistant output in the API's own shape, appended to the conversation for the next call. */
  output: unknown;
}

export interface ToolExchange {
  call: ToolCall;
  result: ToolCallResult;
  /** `resultText(result)`: what the model is given (as text) and what is recorded. */
  output: string;
}

export interface SseSink {
  write(text: string): void;
}

/**
 * Reads one streaming turn, relaying to the client as events arrive. Events that end
 * a turn are held back: the loop decides afterwards whether the client sees them
 * (`finish`) or another upstream call follows (`nextTurn`).
 */
export interface StreamRelay {
  onEvent(event: SseEvent): void;
  /** The turn just read; undefined when the stream ended without its terminal event. */
  endTurn(): Turn | undefined;
  /** Set when the upstream reported an error inside the stream (already relayed). */
  readonly upstreamError: string | undefined;
  nextTurn(): void;
  finish(): void;
  fail(kind: BridgeErrorKind, message: string): void;
  keepAlive(): void;
}

/** Everything that differs between Chat Completions, Responses and Messages. */
export interface ApiModule {
  /** The wire dialect: how usage is counted and errors are framed in a stream. */
  readonly family: ApiFamily;
  /** Client path under the provider prefix, e.g. `/v1/messages`. */
  readonly path: string;
  readonly thoughtSource: string;
  /** True when response objects repeat the request's tools (so injected ones must be cut out). */
  readonly echoesTools: boolean;
  /**
   * A message naming what is wrong with the body, or null when the upstream can take it.
   * `modelInBody` is false where the URL names the model (Bedrock, Vertex): the body has none.
   */
  validate(body: Json, modelInBody?: boolean): string | null;
  prompt(body: Json): string | null;
  /** Where the request carries the results of client tools answering the previous response's calls (client-results.ts). */
  readonly results: ResultReader;
  /** What the body says of the call's cost beyond its own size: budgets reserve by it. */
  costHints(body: Json): CostHints;
  /** The injected tools in the API's own format, built once per tool list. */
  formatTools(tools: readonly InjectedTool[]): FormattedTools;
  /**
   * Prepares a streaming request (e.g. asks for usage); returns what must be hidden from the client
   * again, and the top-level members it set (the first call's bytes are spliced, not re-serialised).
   */
  prepareStreaming(body: Json): { clientWantsUsage: boolean; changed?: readonly string[] };
  /** For the last call at the iteration cap: the model must answer in words. */
  disableTools(body: Json): void;
  /** Appends the turn and its results, in the model's order. */
  appendToolResults(body: Json, turn: Turn, exchanges: ToolExchange[]): void;
  /** The result as text, exactly as `appendToolResults` gives it to the model (images described). */
  resultText(result: ToolCallResult): string;
  /** The tool name when an item (content block, output item, tool call) is a tool call. */
  callName(item: Json): string | undefined;
  parseResponse(json: Json): Turn;
  /** The one response the client sees for all the turns of a blocking interception. */
  mergeResponses(responses: Json[], turns: Turn[], view: ClientView): Json;
  createRelay(sink: SseSink, options: RelayOptions): StreamRelay;
}

export interface RelayOptions {
  view: ClientView;
  /** False when the bridge asked for a usage chunk the client did not (it is held back). */
  clientWantsUsage: boolean;
}

/**
 * How one API carries client tool results: the body member holding the conversation, where its
 * trailing run after the last assistant turn starts (read from roles and types, exact in any
 * parse), and the results in such a run.
 */
export interface ResultReader {
  member: 'messages' | 'input';
  start(items: readonly unknown[]): number;
  read(items: readonly unknown[]): ClientToolResult[];
}

/** The injected tools in one API's format, and the same as JSON text (no brackets), ready to splice. */
export interface FormattedTools {
  readonly items: readonly Json[];
  readonly json: string;
}
