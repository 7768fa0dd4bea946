import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import schema from '../../schemas/prices.schema.json' with { type: 'json' };
import { type ConfigError, validateConfig } from '../../src/config/load.ts';
import { chatUsage } from '../../src/intercept/chat-completions/payload.ts';
import { messagesUsage } from '../../src/intercept/messages/payload.ts';
import { responsesUsage } from '../../src/intercept/responses/payload.ts';
import type { Usage } from '../../src/intercept/types.ts';
import { costOf, sumCosts } from '../../src/pricing/cost.ts';
import { PriceBook, SHIPPED_PRICES } from '../../src/pricing/price-book.ts';
import { candidates } from '../../src/pricing/resolve.ts';

const book = PriceBook.fromConfig();
const input = (model: string) => book.price(model)?.input ?? null;

describe('the shipped table', () => {
  it('is valid against schemas/prices.schema.json', () => {
    const validate = new Ajv({ allErrors: true }).compile(schema);
    expect(validate(SHIPPED_PRICES), JSON.stringify(validate.errors)).toBe(true);
  });

  it('gives every entry a source page and the date it was taken', () => {
    for (const entry of SHIPPED_PRICES.models) {
      expect(entry.source, entry.model).toMatch(/^https:\/\/(developers\.openai\.com|platform\.claude\.com)\//);
      expect(entry.as_of, entry.model).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    }
    expect(SHIPPED_PRICES.sources.length).toBeGreaterThan(0);
  });

  it('names each model once, and each name resolves to its own row', () => {
    const names = SHIPPED_PRICES.models.flatMap((e) => [e.model, ...(e.aliases ?? [])]);
    expect(new Set(names).size).toBe(names.length);
    for (const entry of SHIPPED_PRICES.models) expect(book.price(entry.model), entry.model).toBe(entry);
  });

  it('covers the families coding agents use', () => {
    for (const model of [
      'gpt-6.2-sol',
      'gpt-6-luna',
      'gpt-5.5',
      'gpt-5.4-mini',
      'gpt-5.4-nano',
      'gpt-5',
      'gpt-5-mini',
      'gpt-5-nano',
      'gpt-5-codex',
      'gpt-5.1-codex-mini',
      'gpt-4.1',
      'gpt-4.1-mini',
      'gpt-4o',
      'gpt-4o-mini',
      'o3',
      'o4-mini',
      'claude-opus-4-8',
      'claude-opus-4-1',
      'claude-sonnet-4-6',
      'claude-sonnet-4-5',
      'claude-haiku-4-5',
      'claude-3-5-haiku',
    ]) {
      expect(book.price(model), model).not.toBeNull();
    }
  });
});

describe('resolving model names', () => {
  it.each([
    ['claude-sonnet-4-5-20250929', 3],
    ['gpt-4o-2024-08-06', 2.5],
    ['gpt-5-2025-08-07', 1.25],
    ['gpt-5-mini', 0.25],
    ['gpt-5-mini-2025-08-07', 0.25],
    ['gpt-4o-mini', 0.15],
    ['gpt-4o-mini-2024-07-18', 0.15],
    ['gpt-5.4-nano-2026-03-17', 0.2],
    ['gpt-6.1-sol-2026-09-29', 2],
    // An exact row beats the undated family: the first gpt-4o snapshot kept its launch price.
    ['gpt-4o-2024-05-13', 5],
    ['anthropic/claude-opus-4-8', 5],
    ['openai/gpt-5.4', 2.5],
    ['GPT-4o', 2.5],
    ['claude-3-5-haiku-latest', 0.8],
    ['claude-3-5-haiku-20241022', 0.8],
    ['claude-opus-4-0', 15],
    ['claude-opus-4-20250514', 15],
    ['gpt-5.6', 4],
  ])('%s costs $%s per million input tokens', (model, usd) => {
    expect(input(model)).toBe(usd);
  });

  it.each(['gpt-5-turbo', 'claude-sonnet', 'llama-3.3-70b', 'gpt-5.4-mini-preview', 'my-finetune-1', ''])(
    '%s has no price (null, never 0)',
    (model) => {
      expect(book.price(model)).toBeNull();
    },
  );

  it('strips only a date, a provider prefix or -latest', () => {
    expect(candidates('openai/gpt-5-mini-2025-08-07')).toEqual(['gpt-5-mini-2025-08-07', 'gpt-5-mini']);
    expect(candidates('claude-3-7-sonnet-latest')).toEqual(['claude-3-7-sonnet-latest', 'claude-3-7-sonnet']);
    expect(candidates('gpt-5-mini')).toEqual(['gpt-5-mini']);
  });

  it('remembers answers without growing past its bound', () => {
    for (let i = 0; i < 5000; i++) expect(book.price(`unknown-${i}`)).toBeNull();
    expect(book.price('gpt-4o')).toBe(book.price('gpt-4o-2024-11-20'));
  });
});

describe('pricing: from the config', () => {
  const configured = PriceBook.fromConfig([
    { model: 'my-finetune-*', input: 3, output: 15, cache_read: 0.3, cache_write: 3.75 },
    { model: 'gpt-4o', input: 1, output: 2 },
    { model: 'gpt-*', input: 9, output: 9 },
    { model: 'gpt-5*', input: 7, output: 7 },
    { model: 'gpt-5.4', input: 6, output: 6 },
    { model: 'o?-mini', input: 0.5, output: 1 },
  ]);
  const at = (model: string) => configured.price(model)?.input;

  it('adds models by glob', () => {
    expect(at('my-finetune-v2')).toBe(3);
    expect(at('openai/my-finetune-v2-2026-01-01')).toBe(3);
  });

  it('overrides shipped rows, dated snapshots included', () => {
    expect(at('gpt-4o')).toBe(1);
    expect(at('gpt-4o-2024-08-06')).toBe(1);
  });

  it('prefers exact names, then the glob with the most literal characters', () => {
    expect(at('gpt-5.4')).toBe(6);
    expect(at('gpt-5-mini')).toBe(7);
    expect(at('gpt-4.1')).toBe(9);
    expect(at('o4-mini')).toBe(0.5);
  });

  it('leaves everything else to the shipped table', () => {
    expect(at('claude-haiku-4-5')).toBe(1);
  });

  it('is validated with the rest of the config; budgets sit beside it', () => {
    const config = validateConfig(
      {
        pricing: [{ model: 'my-*', input: 1, output: 2 }],
        budgets: { member: { usd: 100, period: 'month' } },
      },
      'test',
      {},
    );
    expect(config.pricing).toEqual([{ model: 'my-*', input: 1, output: 2 }]);
    expect(config.budgets).toEqual({ member: { usd: 100, period: 'month' }, unpriced: 'refuse', notify: [0.8, 1] });
    expect(validateConfig({}, 'test', {})).toMatchObject({ pricing: [], budgets: {} });

    let problems: string[] = [];
    try {
      validateConfig(
        {
          pricing: [
            { model: 'x', input: -1, output: 1 },
            { input: 1, output: 1 },
          ],
          budgets: { member: { usd: 0, period: 'month' }, owner: { usd: 5, period: 'year' }, guest: {} },
        },
        'test',
        {},
      );
    } catch (err) {
      problems = (err as ConfigError).problems;
    }
    expect(problems).toEqual(
      expect.arrayContaining([
        'pricing[0].input: must be at least 0',
        'pricing[1].model: is required',
        'budgets.member.usd: must be more than 0',
        'budgets.owner.period: must be one of "day", "week", "month"',
        'budgets.guest: is not a known setting',
      ]),
    );
  });
});

// Every expected figure below is worked out by hand: tokens × USD per million ÷ 1,000,000.
describe('cost arithmetic', () => {
  const cost = (model: string, provider: 'openai' | 'anthropic', usage: Usage | null) =>
    book.cost(model, provider, usage!);

  it('OpenAI Chat Completions: cached prompt tokens are cache reads', () => {
    const usage = chatUsage({
      prompt_tokens: 12_000,
      completion_tokens: 800,
      total_tokens: 12_800,
      prompt_tokens_details: { cached_tokens: 10_000 },
      completion_tokens_details: { reasoning_tokens: 300 },
    });
    // gpt-5.4: 2,000 × $2.50 + 10,000 × $0.25 + 800 × $15 = $0.0195
    expect(cost('gpt-5.4', 'openai', usage)).toBe(0.0195);
  });

  it('OpenAI Responses: cached input, and cache writes billed where the model charges for them', () => {
    const usage = responsesUsage({
      input_tokens: 50_000,
      input_tokens_details: { cached_tokens: 30_000, cache_write_tokens: 15_000 },
      output_tokens: 2_000,
      output_tokens_details: { reasoning_tokens: 1_200 },
      total_tokens: 52_000,
    });
    // gpt-6.2-sol: 5,000 × $2 + 15,000 × $2.50 (writes) + 30,000 × $0.10 + 2,000 × $10 = $0.0705
    expect(cost('gpt-6.2-sol', 'openai', usage)).toBe(0.0705);
    // gpt-5.1-codex bills writes as input: 20,000 × $1.25 + 30,000 × $0.125 + 2,000 × $10 = $0.04875
    expect(cost('gpt-5.1-codex', 'openai', usage)).toBe(0.04875);
  });

  it('OpenAI: writes a parser has already moved out of input are not subtracted twice', () => {
    const usage: Usage = {
      input_tokens: 5_000,
      output_tokens: 2_000,
      cache_read_input_tokens: 30_000,
      cache_write_input_tokens: 15_000,
      metadata: { input_tokens_details: { cache_write_tokens: 15_000 } },
    };
    expect(cost('gpt-6.2-sol', 'openai', usage)).toBe(0.0705);
  });

  it('Anthropic Messages: cache reads, 5-minute and 1-hour writes', () => {
    const usage = messagesUsage({
      input_tokens: 6,
      cache_creation_input_tokens: 3_000,
      cache_read_input_tokens: 18_000,
      cache_creation: { ephemeral_5m_input_tokens: 1_000, ephemeral_1h_input_tokens: 2_000 },
      output_tokens: 500,
      service_tier: 'standard',
    });
    // claude-sonnet-4-5: 6 × $3 + 1,000 × $3.75 + 2,000 × $6 + 18,000 × $0.30 + 500 × $15 = $0.028668
    expect(cost('claude-sonnet-4-5-20250929', 'anthropic', usage)).toBe(0.028668);
  });

  it('Anthropic without the TTL split: every write at the 5-minute price', () => {
    const usage = messagesUsage({
      input_tokens: 6,
      cache_creation_input_tokens: 3_000,
      cache_read_input_tokens: 18_000,
      output_tokens: 500,
    });
    // 6 × $3 + 3,000 × $3.75 + 18,000 × $0.30 + 500 × $15 = $0.024168
    expect(cost('claude-sonnet-4-5', 'anthropic', usage)).toBe(0.024168);
  });

  it('long prompts bill the whole request at the long-context tier', () => {
    const sonnet = (input_tokens: number) =>
      cost(
        'claude-sonnet-4-5',
        'anthropic',
        messagesUsage({ input_tokens, cache_read_input_tokens: 60_000, output_tokens: 1_000 }),
      );
    // 210,000-token prompt: 150,000 × $6 + 60,000 × $0.60 + 1,000 × $22.50 = $0.9585
    expect(sonnet(150_000)).toBe(0.9585);
    // exactly 200,000 is not above the line: 140,000 × $3 + 60,000 × $0.30 + 1,000 × $15 = $0.453
    expect(sonnet(140_000)).toBe(0.453);

    // claude-haiku-5-5, 110,000-token prompt: 90,000 × $0.50 + 20,000 × $0.05 + 1,000 × $2.50 = $0.0485
    const haiku = messagesUsage({ input_tokens: 90_000, cache_read_input_tokens: 20_000, output_tokens: 1_000 });
    expect(cost('claude-haiku-5-5', 'anthropic', haiku)).toBe(0.0485);

    // gpt-5.4, 300,000-token prompt: 200,000 × $5 + 100,000 × $0.50 + 2,000 × $22.50 = $1.095
    const long = chatUsage({
      prompt_tokens: 300_000,
      completion_tokens: 2_000,
      prompt_tokens_details: { cached_tokens: 100_000 },
    });
    expect(cost('gpt-5.4', 'openai', long)).toBe(1.095);
  });

  it('a two-call tool loop costs the sum of its two responses', () => {
    const first = messagesUsage({
      input_tokens: 2_500,
      cache_creation_input_tokens: 12_000,
      cache_read_input_tokens: 0,
      cache_creation: { ephemeral_5m_input_tokens: 12_000, ephemeral_1h_input_tokens: 0 },
      output_tokens: 180,
    });
    const second = messagesUsage({
      input_tokens: 400,
      cache_creation_input_tokens: 2_700,
      cache_read_input_tokens: 12_000,
      cache_creation: { ephemeral_5m_input_tokens: 2_700, ephemeral_1h_input_tokens: 0 },
      output_tokens: 650,
    });
    // claude-opus-4-8: 2,500 × $5 + 12,000 × $6.25 + 180 × $25 = $0.092
    const a = cost('claude-opus-4-8', 'anthropic', first);
    // 400 × $5 + 12,000 × $0.50 + 2,700 × $6.25 + 650 × $25 = $0.041125
    const b = cost('claude-opus-4-8', 'anthropic', second);
    expect([a, b]).toEqual([0.092, 0.041125]);
    expect(sumCosts([a, b])).toBe(0.133125);
  });

  it('unknown models cost null, and so does any sum that includes one', () => {
    const usage = chatUsage({ prompt_tokens: 10, completion_tokens: 10 })!;
    expect(book.cost('llama-3.3-70b', 'openai', usage)).toBeNull();
    expect(costOf(null, usage, 'openai')).toBeNull();
    expect(sumCosts([0.5, null, 0.25])).toBeNull();
    expect(sumCosts([])).toBe(0);
  });

  it('keeps sums exact to a billionth of a dollar', () => {
    const usage = chatUsage({ prompt_tokens: 1, completion_tokens: 0 })!;
    const one = costOf({ input: 0.1, output: 0 }, usage, 'openai')!;
    expect(one).toBe(1e-7);
    expect(sumCosts(Array.from({ length: 3 }, () => 0.1 + 0.2))).toBe(0.9);
  });
});
