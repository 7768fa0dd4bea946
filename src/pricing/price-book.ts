import type { PricingConfig } from '../config/config.ts';
import type { ApiFamily } from '../providers/kind.ts';
import type { Usage } from '../store/figures.ts';
import { costOf, type Price } from './cost.ts';
import shipped from './prices.json' with { type: 'json' };
import { candidates, NameIndex } from './resolve.ts';

/** A price under a model name or glob, as `pricing:` entries and shipped rows give it. */
export interface NamedPrice extends Price {
  model: string;
  /** Other names the provider documents for the same model (`gpt-5.6`, `claude-opus-4-0`). */
  aliases?: string[];
}

/** One row of the shipped table (schemas/prices.schema.json). */
interface ShippedPrice extends NamedPrice {
  /** The provider kind whose rate card it is. */
  provider: string;
  source: string;
  as_of: string;
  note?: string;
}

interface PriceFile {
  note: string;
  unit: string;
  sources: { url: string; taken: string }[];
  models: ShippedPrice[];
}

export const SHIPPED_PRICES = shipped as PriceFile;

// Bounded because model names come from clients; unknown names are remembered too.
const MEMO_LIMIT = 1024;

function indexOf(entries: readonly NamedPrice[]): NameIndex<Price> {
  return new NameIndex(entries.flatMap((e) => [e.model, ...(e.aliases ?? [])].map((name) => [name, e] as const)));
}

/** Prices by model name: configured entries first, then the shipped table. */
export class PriceBook {
  readonly #layers: NameIndex<Price>[];
  readonly #memo = new Map<string, Price | null>();

  /** Each layer is consulted only when every earlier one has nothing for the name. */
  constructor(...layers: readonly (readonly NamedPrice[])[]) {
    this.#layers = layers.map(indexOf);
  }

  /** `pricing:` from the config adds to and overrides the shipped table. */
  static fromConfig(pricing: readonly PricingConfig[] = []): PriceBook {
    return new PriceBook(pricing, SHIPPED_PRICES.models);
  }

  /**
   * The price of a model, or of the first of several names that has one (a provider kind's
   * `priceNames`, most specific first); each name also stands for its undated forms.
   */
  price(model: string | readonly string[]): Price | null {
    const key = typeof model === 'string' ? model : model.join('\n');
    const known = this.#memo.get(key);
    if (known !== undefined) return known;
    const found = this.#resolve(typeof model === 'string' ? [model] : model);
    if (this.#memo.size >= MEMO_LIMIT) this.#memo.delete(this.#memo.keys().next().value as string);
    this.#memo.set(key, found);
    return found;
  }

  /** USD for one upstream response of `model`, counted the API family's way; null when it has no price. */
  cost(model: string | readonly string[], family: ApiFamily, usage: Usage): number | null {
    return costOf(this.price(model), usage, family);
  }

  /** A configured entry under any of the names wins over a shipped one under a more specific name. */
  #resolve(models: readonly string[]): Price | null {
    const names = [...new Set(models.flatMap(candidates))];
    for (const layer of this.#layers) {
      const price = layer.match(names);
      if (price) return price;
    }
    return null;
  }
}
