import type { Usage } from './types.ts';

/** Adds one turn's usage to a running total (for the client's summed view). */
export function addUsage(total: Usage | null, usage: Usage | null): Usage | null {
  if (!usage) return total;
  if (!total) return { ...usage, metadata: { ...usage.metadata } };
  return {
    input_tokens: total.input_tokens + usage.input_tokens,
    output_tokens: total.output_tokens + usage.output_tokens,
    cache_read_input_tokens: total.cache_read_input_tokens + usage.cache_read_input_tokens,
    cache_write_input_tokens: total.cache_write_input_tokens + usage.cache_write_input_tokens,
    metadata: total.metadata,
  };
}
