import type { ApiFamily } from '../providers/kind.ts';
import { roundUsd, type Usage } from '../store/figures.ts';

/**
 * USD per million tokens. An omitted cache rate means no discount or surcharge is known:
 * cache reads and writes are billed as ordinary input, 1-hour writes as 5-minute writes.
 */
export interface Rates {
  input: number;
  output: number;
  cache_read?: number;
  /** Anthropic: the 5-minute write; OpenAI (GPT-5.6 and later): the default-retention write. */
  cache_write?: number;
  /** Anthropic 1-hour cache writes. */
  cache_write_1h?: number;
}

/** A model's rates, with the tier that replaces them for the whole request on long prompts. */
export interface Price extends Rates {
  /** Applies when the prompt (input + cache reads + cache writes) exceeds `above` tokens. */
  long_context?: Rates & { above: number };
  /** The most output tokens one call can produce: what a budget reserves when the request does not say. */
  max_output?: number;
}

const count = (value: unknown): number =>
  typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : 0;

const details = (usage: Usage): Record<string, unknown> =>
  (usage.metadata.input_tokens_details ?? usage.metadata.prompt_tokens_details ?? {}) as Record<string, unknown>;

/**
 * How the prompt splits into billed buckets, by the API family's way of counting. Anthropic reports writes beside input and splits them
 * by TTL in `cache_creation`; OpenAI counts writes inside the prompt and names them only in the
 * details object (`cache_write_tokens`), unless a parser has already moved them out of input.
 */
function buckets(usage: Usage, family: ApiFamily) {
  const read = count(usage.cache_read_input_tokens);
  let input = count(usage.input_tokens);
  let write = count(usage.cache_write_input_tokens);
  let write1h = 0;
  if (family === 'anthropic') {
    const split = usage.metadata.cache_creation as Record<string, unknown> | undefined;
    write1h = Math.min(count(split?.ephemeral_1h_input_tokens), write);
    write -= write1h;
  } else if (write === 0) {
    write = Math.min(count(details(usage).cache_write_tokens), input);
    input -= write;
  }
  return { input, read, write, write1h, prompt: input + read + write + write1h };
}

/** USD for one upstream response; null when the model has no price (never 0). */
export function costOf(price: Price | null | undefined, usage: Usage, family: ApiFamily): number | null {
  if (!price) return null;
  const b = buckets(usage, family);
  const tier = price.long_context;
  const r: Rates = tier && b.prompt > tier.above ? tier : price;
  const write = r.cache_write ?? r.input;
  const usd =
    b.input * r.input +
    count(usage.output_tokens) * r.output +
    b.read * (r.cache_read ?? r.input) +
    b.write * write +
    b.write1h * (r.cache_write_1h ?? write);
  return roundUsd(usd / 1e6);
}

/** Sum of several costs (an interception's usages); null as soon as one is unknown, 0 for none. */
export function sumCosts(costs: Iterable<number | null>): number | null {
  let total = 0;
  for (const cost of costs) {
    if (cost === null) return null;
    total += cost;
  }
  return roundUsd(total);
}
