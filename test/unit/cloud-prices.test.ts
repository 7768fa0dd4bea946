import { describe, expect, it } from 'vitest';
import schema from '../../schemas/prices.schema.json' with { type: 'json' };
import type { Rates } from '../../src/pricing/cost.ts';
import { type NamedPrice, PriceBook, SHIPPED_PRICES } from '../../src/pricing/price-book.ts';
import type { ProviderConfig } from '../../src/providers/kind.ts';
import { bedrockKind } from '../../src/providers/kinds/bedrock/index.ts';
import { vertexKind } from '../../src/providers/kinds/vertex/index.ts';
import { PROVIDER_TYPES } from '../../src/providers/registry.ts';

/**
 * Claude on Bedrock and Vertex (README "Cost and budgets"): global endpoints bill Anthropic's
 * rates, regional ones 10 % more from Claude Sonnet 4.5 on; the kinds' price names pick the row.
 */

const book = PriceBook.fromConfig();
const vertex = (region: string): ProviderConfig => ({ name: 'vertex', type: 'vertex', project: 'my-project', region });
const onBedrock = (id: string, prices = book) => prices.price(bedrockKind.priceNames(id))?.input ?? null;
const onVertex = (id: string, region: string) => book.price(vertexKind.priceNames(id, vertex(region)))?.input ?? null;

/** Models from before the regional premium: the same rates everywhere. */
const WITHOUT_PREMIUM = new Set(['claude-opus-4-1', 'claude-opus-4', 'claude-sonnet-4', 'claude-3-5-haiku']);
const RATES = ['input', 'output', 'cache_read', 'cache_write', 'cache_write_1h'] as const;

const rows = (provider: string) => SHIPPED_PRICES.models.filter((m) => m.provider === provider);
/** Rates scaled by `factor`, to a billionth (`above` is a token count, not scaled). */
const scaled = (rates: Record<string, number | undefined>, factor: number) =>
  Object.fromEntries(
    Object.entries(rates).map(([k, v]) => [k, k === 'above' ? v : Math.round((v ?? 0) * factor * 1e9) / 1e9]),
  );

describe('the shipped table for Bedrock and Vertex', () => {
  it('names every provider kind in its schema, and only those', () => {
    expect(schema.properties.models.items.properties.provider.enum).toEqual([...PROVIDER_TYPES]);
  });

  it.each([
    ['bedrock', 'anthropic.'],
    ['vertex', 'vertex.'],
  ])('has a regional %s row for every Anthropic model: 10 %% more from Claude Sonnet 4.5 on', (provider, prefix) => {
    const regional = new Map(rows(provider).map((r) => [r.model, r as NamedPrice]));
    expect(regional.size).toBe(rows('anthropic').length);
    for (const anthropic of rows('anthropic')) {
      const row = regional.get(`${prefix}${anthropic.model}`);
      expect(row, anthropic.model).toBeDefined();
      const factor = WITHOUT_PREMIUM.has(anthropic.model) ? 1 : 1.1;
      const pick = (r: Rates): Record<string, number | undefined> =>
        Object.fromEntries(RATES.filter((k) => k in r).map((k) => [k, r[k]]));
      expect(scaled(pick(row!), 1), anthropic.model).toEqual(scaled(pick(anthropic), factor));
      if (anthropic.long_context) {
        expect(scaled({ ...row!.long_context }, 1)).toEqual(scaled({ ...anthropic.long_context }, factor));
      } else {
        expect(row!.long_context).toBeUndefined();
      }
    }
  });
});

describe('Bedrock model ids', () => {
  it.each([
    ['us.anthropic.claude-sonnet-4-5-20250929-v1:0', 3.3],
    ['eu.anthropic.claude-opus-4-8', 5.5],
    ['anthropic.claude-sonnet-4-5-20250929-v1:0', 3.3],
    ['arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0', 1.1],
    ['global.anthropic.claude-sonnet-4-5-20250929-v1:0', 3],
    ['global.anthropic.claude-opus-4-6-v1', 5],
    ['arn:aws:bedrock:us-east-1:123456789012:inference-profile/global.anthropic.claude-haiku-4-5-20251001-v1:0', 1],
    ['us.anthropic.claude-opus-4-1-20250805-v1:0', 15],
    ['us.anthropic.claude-fable-5', 11],
  ])('%s costs $%s per million input tokens', (id, usd) => {
    expect(onBedrock(id)).toBe(usd);
  });

  it('leave ids that do not name their model unpriced, unless pricing: names them', () => {
    const arn = 'arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123def456';
    expect(onBedrock(arn)).toBeNull();
    expect(onBedrock('amazon.nova-pro-v1:0')).toBeNull();
    expect(onBedrock('not a model')).toBeNull();
    const configured = PriceBook.fromConfig([{ model: arn, input: 2, output: 8 }]);
    expect(onBedrock(arn, configured)).toBe(2);
  });

  it('take a configured row for a Bedrock name over the shipped one, and leave the other endpoints alone', () => {
    const configured = PriceBook.fromConfig([{ model: 'anthropic.claude-sonnet-4-5', input: 1, output: 5 }]);
    expect(onBedrock('us.anthropic.claude-sonnet-4-5-20250929-v1:0', configured)).toBe(1);
    expect(onBedrock('global.anthropic.claude-sonnet-4-5-20250929-v1:0', configured)).toBe(3);
    const everywhere = PriceBook.fromConfig([{ model: '*claude-sonnet-4-5*', input: 2, output: 5 }]);
    expect(onBedrock('us.anthropic.claude-sonnet-4-5-20250929-v1:0', everywhere)).toBe(2);
    expect(onBedrock('global.anthropic.claude-sonnet-4-5-20250929-v1:0', everywhere)).toBe(2);
  });

  it('bill a long regional prompt at the regional long-context tier', () => {
    const price = book.price(bedrockKind.priceNames('us.anthropic.claude-sonnet-4-5-20250929-v1:0'));
    expect(price?.long_context).toMatchObject({ above: 200_000, input: 6.6, output: 24.75 });
  });
});

describe('Vertex model ids, by the configured region', () => {
  it.each([
    ['claude-sonnet-4-5@20250929', 'us-east5', 3.3],
    ['claude-sonnet-4-5@20250929', 'global', 3],
    ['claude-opus-4-6', 'europe-west1', 5.5],
    ['claude-opus-4-6', 'eu', 5.5],
    ['claude-opus-4-6', 'global', 5],
    ['claude-opus-4@20250514', 'us-east5', 15],
    ['claude-unknown-9@20990101', 'us-east5', null],
  ])('%s in %s costs $%s per million input tokens', (id, region, usd) => {
    expect(onVertex(id, region)).toBe(usd);
  });
});
