/** Costs are kept to a billionth of a dollar, so sums of many records stay exact and repeatable. */
export const roundUsd = (usd: number): number => Math.round(usd * 1e9) / 1e9;

/** The four counts every token usage keeps, as recorded (OpenAI's input_tokens already excludes cached tokens). */
export interface TokenCounts {
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens: number;
  cache_write_input_tokens: number;
}

/** One upstream response's token counts as recorded (README "Token figures"). */
export interface Usage extends TokenCounts {
  /** Every other counter the provider reported. */
  metadata: Record<string, unknown>;
}

/**
 * "Input", defined once (README "Token figures"): every prompt token the model read — the
 * uncached input plus cache reads plus cache writes. The stored `input_tokens` is the uncached
 * part; the API adds this as `total_input_tokens` wherever it shows token counts.
 */
export const totalInput = (t: Omit<TokenCounts, 'output_tokens'>): number =>
  t.input_tokens + t.cache_read_input_tokens + t.cache_write_input_tokens;

/** The counts with their total input beside them. */
export const withTotalInput = <T extends TokenCounts>(t: T): T & { total_input_tokens: number } => ({
  ...t,
  total_input_tokens: totalInput(t),
});

/** USD as the API shows it: to a billionth of a dollar, as costs are stored (sums in a store carry float noise). */
export const apiUsd = (usd: number | null | undefined): number | null =>
  usd === null || usd === undefined ? null : roundUsd(usd);
