import type { ToolCallResult } from '../mcp/types.ts';
import type { Json, Usage } from './types.ts';

/**
 * OpenAI usage → the recorded counts (README "Token figures"): cached prompt tokens are reported inside the prompt count,
 * so they are subtracted from input and recorded as cache reads.
 */
export function openaiUsage(
  usage: Json | undefined | null,
  inputKey: string,
  outputKey: string,
  detailsKey: string,
): Usage | null {
  if (!usage) return null;
  const { [inputKey]: input = 0, [outputKey]: output = 0, [detailsKey]: details, ...rest } = usage;
  const { cached_tokens: cached = 0, ...otherDetails } = (details ?? {}) as Json;
  const metadata: Record<string, unknown> = { ...rest };
  if (Object.keys(otherDetails).length) metadata[detailsKey] = otherDetails;
  return {
    input_tokens: Math.max(0, input - cached),
    output_tokens: output,
    cache_read_input_tokens: cached,
    cache_write_input_tokens: 0,
    metadata,
  };
}

/** Sums OpenAI-shaped usage objects key by key (one level of nested details too). */
export function sumOpenaiUsage(usages: Array<Json | undefined | null>): Json | undefined {
  const present = usages.filter((u): u is Json => !!u);
  if (!present.length) return undefined;
  const total: Json = {};
  for (const usage of present) {
    for (const [key, value] of Object.entries(usage)) {
      if (typeof value === 'number') total[key] = (total[key] ?? 0) + value;
      else if (value && typeof value === 'object') {
        total[key] ??= {};
        const nested: Json = total[key];
        for (const [k, v] of Object.entries(value as Json)) if (typeof v === 'number') nested[k] = (nested[k] ?? 0) + v;
      }
    }
  }
  return total;
}

export const validateModel = (body: Json): string | null =>
  typeof body.model === 'string' && body.model ? null : 'model: a model name is required';

/** OpenAI tool results are text only: images are described, and an error says so up front. */
export function textOnlyResult(result: ToolCallResult): string {
  const parts = result.content.map((c) =>
    c.type === 'text' ? c.text : `[image ${c.mimeType}, ${Math.round((c.data.length * 3) / 4)} bytes, not shown]`,
  );
  const text = parts.join('\n');
  return result.isError && !text.startsWith('error') ? `error: ${text || result.error}` : text;
}
