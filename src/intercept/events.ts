import type { ToolCallResult, ToolClaim, ToolRef } from '../mcp/types.ts';
import type { InterceptionRecord, InterceptionStatus } from '../store/records.ts';
import type { ClientToolResult, ToolCall, Turn } from './types.ts';

/** The interception's own fields, known before the first upstream call. */
export interface InterceptionStarted {
  record: Omit<InterceptionRecord, '_id' | 'ended_at' | 'status' | 'cost_usd' | 'totals'>;
  /** The user message this request opens with; null for a follow-up that only carries tool results. */
  prompt: string | null;
  /** What the API calls the model's thoughts (`thinking`, `reasoning_summary`), recorded as their source. */
  thoughtSource: string;
  /** Results of the client's own tools this request carries back: each recorded on its earlier call. */
  toolResults?: readonly ClientToolResult[];
}

/** One upstream response read to its end, or why it could not be (with its HTTP status when it was not 200). */
export type UpstreamOutcome = { turn: Turn } | { error: string; status?: number };

/** The loop's verdict on a turn, once its tool calls are sorted out. */
export interface SettledTurn {
  turn: Turn;
  /** Calls of the client's own tools: they reach the client unchanged. */
  clientCalls: ToolCall[];
  /** Calls the bridge owns but does not run (the loop ends in this turn), and why. */
  notRun: Array<{ call: ToolCall; claim: ToolClaim; reason: string }>;
}

/** One injected call the bridge answered (ran, or refused to the model). */
export interface ToolRan {
  call: ToolCall;
  claim: ToolClaim;
  responseId: string | null;
  result: ToolCallResult;
  /** Exactly the text the model was given as the result. */
  output: string;
}

export interface InterceptionEnded {
  status: InterceptionStatus;
  /** Merged into the interception's metadata (iterations, capped, error, upstream_status). */
  metadata: Record<string, unknown>;
}

/**
 * Everything one interception reports, in order, to its one observer; the observer alone turns
 * them into records, metrics and spans. The `…Started` events wrap the work they announce, so
 * its span is the active one while it runs (outgoing requests carry its `traceparent`).
 */
export interface InterceptionEvents {
  /** The request is understood: record the interception. */
  started(started: InterceptionStarted): void;
  /** The loop runs inside `fn`; its result's status says whether it failed. */
  processing<T extends { status: InterceptionStatus }>(fn: () => Promise<T>): Promise<T>;
  /** One upstream call is sent by `send`; its response is read before `upstreamEnded`. */
  upstreamStarted<T>(send: () => Promise<T>): Promise<T>;
  upstreamEnded(outcome: UpstreamOutcome): void;
  turnSettled(settled: SettledTurn): void;
  /** One injected call (the model's `callId`) runs in `run` (several may run at once). */
  toolStarted(tool: ToolRef, callId: string, run: () => Promise<ToolCallResult>): Promise<ToolCallResult>;
  toolRan(ran: ToolRan): void;
  /**
   * Handed over before the response's last bytes, so a crash after the client has its answer
   * loses nothing; when it returns a promise, the last bytes wait for it (the records' journal write).
   */
  ended(ended: InterceptionEnded): Promise<void> | undefined;
}
