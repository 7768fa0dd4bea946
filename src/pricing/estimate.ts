import type { Price, Rates } from './cost.ts';

/**
 * A request body carries at least this many bytes per input token: JSON, code and prose run
 * 3–4, so half the body's bytes is above the real count for nearly every request (README
 * "Cost and budgets" names the exceptions).
 */
const BYTES_PER_TOKEN = 2;

/** What a request body says of its cost beyond its own size (README "Cost and budgets"): each API reads them (intercept/). */
export interface CostHints {
  /** The most output tokens each answer may have (`max_tokens` and its kin), when it says. */
  maxOutput: number | null;
  /** Answers the call asks for (Chat's `n`), each as long as `maxOutput` allows. */
  answers: number;
  /** It continues input the provider keeps and bills (`previous_response_id`, `conversation`) but the body does not carry. */
  storedInput: boolean;
}

/** Output assumed when neither the request nor the price table bounds it. */
export const DEFAULT_OUTPUT_CAP = 64_000;

/**
 * Input assumed for what a request continues but does not carry (a stored response or
 * conversation): a whole context window of today's coding models.
 */
export const STORED_INPUT_TOKENS = 200_000;

/**
 * The largest likely cost of one upstream call, reserved against budgets before it is sent:
 * every input token at the dearest input rate (a cache write costs more than a plain read), and
 * the whole output the request allows (`max_tokens`, else the model's cap) for each answer it
 * asks for.
 */
export function estimateCost(price: Price, bodyBytes: number, hints: CostHints): number {
  const input = Math.ceil(bodyBytes / BYTES_PER_TOKEN) + (hints.storedInput ? STORED_INPUT_TOKENS : 0);
  const output = (hints.maxOutput ?? price.max_output ?? DEFAULT_OUTPUT_CAP) * hints.answers;
  const tier = price.long_context;
  const rates: Rates = tier && input > tier.above ? tier : price;
  const inputRate = Math.max(rates.input, rates.cache_write ?? 0, rates.cache_write_1h ?? 0);
  return (input * inputRate + output * rates.output) / 1e6;
}
