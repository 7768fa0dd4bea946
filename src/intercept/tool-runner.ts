import type { RequestBridge } from '../mcp/types.ts';
import { traceToolCall } from '../observability/interception.ts';
import type { InterceptionLog } from './recording.ts';
import type { ToolCall, ToolExchange } from './types.ts';

/**
 * Runs the model's calls of injected tools one after another (the model was asked for one
 * per turn), recording each. A failure becomes an error result the model can read.
 */
export async function runInjectedTools(
  bridge: RequestBridge,
  calls: ToolCall[],
  log: InterceptionLog,
  responseId: string | null,
  signal: AbortSignal,
  observe: (call: ToolCall, server: string, ok: boolean, durationMs: number) => void = () => {},
): Promise<ToolExchange[]> {
  const exchanges: ToolExchange[] = [];
  for (const call of calls) {
    const tool = bridge.find(call.name);
    let args: unknown;
    try {
      args = call.arguments.trim() ? JSON.parse(call.arguments) : {};
    } catch {
      args = undefined;
    }
    const result = await traceToolCall(tool, call.name, async () =>
      args === undefined || typeof args !== 'object' || args === null || Array.isArray(args)
        ? {
            content: [{ type: 'text' as const, text: 'error: the tool arguments were not a JSON object' }],
            isError: true,
            error: 'arguments were not a JSON object',
            durationMs: 0,
          }
        : bridge.call(call.name, args, { signal }),
    );
    log.tool(call, responseId, {
      tool: tool?.rawName ?? call.name,
      serverUrl: tool?.serverUrl ?? null,
      injected: true,
      error: result.error,
      metadata: { duration_ms: result.durationMs, server: tool?.server ?? null },
    });
    observe(call, tool?.server ?? 'unknown', !result.isError, result.durationMs);
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
