import type { ApiName, ProviderKind } from './kind.ts';

/**
 * The `retarget` of a kind whose bodies name their model (OpenAI and its kin): each API's path
 * under the base URL, and the target's model set in the body.
 */
export const bodyModelTarget =
  (paths: Partial<Record<ApiName, string>>): NonNullable<ProviderKind['retarget']> =>
  (api, model) => {
    const path = paths[api];
    return path === undefined ? undefined : { path, set: { model } };
  };
