import { errorResult } from '../mcp/tool-result.ts';
import type { RequestBridge } from '../mcp/types.ts';
import { type InterceptionTelemetry, traceToolCall } from '../observability/interception.ts';
import type { InterceptionLog } from './recording.ts';
import type { ToolCall, ToolExchange } from './types.ts';

const NOT_JSON = Symbol('not JSON');

function parseArguments(text: string): unknown {
  try {
    return text.trim() ? JSON.parse(text) : {};
  } catch {
    return NOT_JSON;
  }
}

/**
 * Runs the model's calls of injected tools one after another (the model was asked for one
 * per turn), recording and counting each. A failure becomes an error result the model can
 * read (the bridge also refuses arguments that are not a JSON object).
 */
export async function runInjectedTools(
  bridge: RequestBridge,
  calls: ToolCall[],
  log: InterceptionLog,
  telemetry: InterceptionTelemetry,
  responseId: string | null,
  signal: AbortSignal,
): Promise<ToolExchange[]> {
  const exchanges: ToolExchange[] = [];
  for (const call of calls) {
    const tool = bridge.find(call.name);
    const args = parseArguments(call.arguments);
    const result = await traceToolCall(tool, call.name, async () =>
      args === NOT_JSON
        ? { ...errorResult('the tool arguments were not valid JSON'), durationMs: 0 }
        : bridge.call(call.name, args, { signal }),
    );
    log.tool(call, responseId, {
      tool: tool?.rawName ?? call.name,
      serverUrl: tool?.serverUrl ?? null,
      injected: true,
      error: result.error,
      metadata: { duration_ms: result.durationMs, server: tool?.server ?? null },
    });
    telemetry.toolInvoked(tool?.server ?? 'unknown', tool?.rawName ?? call.name, !result.isError, result.durationMs);
    exchanges.push({ call, result });
  }
  return exchanges;
}

/** Tool result content as plain text, for APIs whose tool results are text only. */
export function resultText(exchange: ToolExchange): string {
  const parts = exchange.result.content.map((c) =>
    c.type === 'text' ? c.text : `[image ${c.mimeType}, ${Math.round((c.data.length * 3) / 4)} bytes, not shown]`,
  );
  const text = parts.join('\n');
  return exchange.result.isError && !text.startsWith('error') ? `error: ${text || exchange.result.error}` : text;
}
