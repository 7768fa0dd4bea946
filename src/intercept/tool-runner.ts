import { errorResult } from '../mcp/tool-result.ts';
import type { RequestBridge, ToolCallResult, ToolClaim } from '../mcp/types.ts';
import type { InterceptionEvents } from './events.ts';
import type { ApiModule, ToolCall, ToolExchange } from './types.ts';

/** A call of a tool the bridge answers, with what the bridge knows of it. */
export interface OwnedCall {
  call: ToolCall;
  claim: ToolClaim;
}

export interface ToolRunContext {
  bridge: RequestBridge;
  events: InterceptionEvents;
  api: Pick<ApiModule, 'resultText'>;
  /** How many calls may run at once. */
  parallelism: number;
  responseId: string | null;
  signal: AbortSignal;
}

const NOT_JSON = Symbol('not JSON');

function parseArguments(text: string): unknown {
  try {
    return text.trim() ? JSON.parse(text) : {};
  } catch {
    return NOT_JSON;
  }
}

/** Runs fn over the items, at most `limit` at a time; the results keep the items' order. */
async function mapConcurrently<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
  return results;
}

/** A refusal or unusable arguments are answered without calling anything; the model reads why. */
function answer(owned: OwnedCall, ctx: ToolRunContext): Promise<ToolCallResult> {
  if (owned.claim.refusal) return Promise.resolve({ ...errorResult(owned.claim.refusal), durationMs: 0 });
  const args = parseArguments(owned.call.arguments);
  if (args === NOT_JSON)
    return Promise.resolve({ ...errorResult('the tool arguments were not valid JSON'), durationMs: 0 });
  return ctx.bridge.call(owned.call.name, args, { signal: ctx.signal });
}

/**
 * Runs one turn's calls of bridge-owned tools concurrently (up to `parallelism`), each
 * reported as it finishes; the exchanges come back in the model's order, as the
 * conversation must carry them. A failure is an error result, never a thrown error.
 */
export function runOwnedCalls(calls: readonly OwnedCall[], ctx: ToolRunContext): Promise<ToolExchange[]> {
  return mapConcurrently(calls, ctx.parallelism, async (owned) => {
    const result = await ctx.events.toolStarted(owned.claim.tool, owned.call.id, () => answer(owned, ctx));
    const output = ctx.api.resultText(result);
    ctx.events.toolRan({ call: owned.call, claim: owned.claim, responseId: ctx.responseId, result, output });
    return { call: owned.call, result, output };
  });
}
