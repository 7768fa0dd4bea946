import type { ApiFamily } from '../providers/kind.ts';

/** Largest upstream models list the bridge reads to add its aliases; a larger one is relayed as it is. */
export const MAX_MODEL_LIST_BYTES = 4 * 1024 * 1024;

/** An alias as a models list of the family shows a model (README "Aliases and fallbacks"). */
export function aliasModel(family: ApiFamily, alias: string): Record<string, unknown> {
  return family === 'anthropic'
    ? { type: 'model', id: alias, display_name: alias, created_at: '1970-01-01T00:00:00Z' }
    : { id: alias, object: 'model', created: 0, owned_by: 'aibridge' };
}

/**
 * The upstream's models list with the aliases added after its own models (those it already
 * lists are not repeated); undefined when the body is not such a list. An Anthropic list that
 * has more pages gets them on its last page only, so `after_id` paging is not disturbed.
 */
export function withAliases(family: ApiFamily, text: string, aliases: readonly string[]): string | undefined {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return undefined;
  }
  const list = body as { data?: unknown; has_more?: unknown };
  if (!body || typeof body !== 'object' || !Array.isArray(list.data)) return undefined;
  if (family === 'anthropic' && list.has_more === true) return text;
  const listed = new Set(list.data.map((m) => (m as { id?: unknown } | null)?.id));
  const added = aliases.filter((alias) => !listed.has(alias)).map((alias) => aliasModel(family, alias));
  return added.length ? JSON.stringify({ ...list, data: [...list.data, ...added] }) : text;
}
