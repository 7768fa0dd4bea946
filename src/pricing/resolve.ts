/**
 * Names a client may send for one priced model, most specific first: the name itself, then
 * without its snapshot date (`gpt-4o-2024-08-06`, `claude-sonnet-4-5-20250929`) or Anthropic's
 * `-latest`. Only those suffixes are removed, so `gpt-5-mini` never becomes `gpt-5`.
 */
export function candidates(model: string): string[] {
  const name = model
    .trim()
    .toLowerCase()
    .replace(/^(openai|anthropic)\//, '');
  const names = [name];
  for (const suffix of [/-(\d{4}-\d{2}-\d{2}|\d{8})$/, /-latest$/]) {
    const shorter = name.replace(suffix, '');
    if (shorter !== name && shorter) names.push(shorter);
  }
  return names;
}

interface Glob<T> {
  pattern: RegExp;
  /** Characters that are not wildcards: the more, the more specific. */
  literal: number;
  value: T;
}

const isGlob = (name: string) => /[*?]/.test(name);

function globOf<T>(name: string, value: T): Glob<T> {
  const source = name
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return { pattern: new RegExp(`^${source}$`), literal: name.replace(/[*?]/g, '').length, value };
}

/** Exact names and `*`/`?` globs; a later entry for the same name replaces an earlier one. */
export class NameIndex<T> {
  readonly #exact = new Map<string, T>();
  readonly #globs: Glob<T>[] = [];

  constructor(entries: Iterable<readonly [string, T]>) {
    for (const [raw, value] of entries) {
      const name = raw.trim().toLowerCase();
      if (isGlob(name)) this.#globs.unshift(globOf(name, value));
      else this.#exact.set(name, value);
    }
    // Most literal characters first; the stable sort keeps later declarations ahead on ties.
    this.#globs.sort((a, b) => b.literal - a.literal);
  }

  /** The first name known exactly; else the most specific glob matching any of them. */
  match(names: readonly string[]): T | undefined {
    for (const name of names) {
      const value = this.#exact.get(name);
      if (value !== undefined) return value;
    }
    for (const glob of this.#globs) if (names.some((name) => glob.pattern.test(name))) return glob.value;
    return undefined;
  }
}
