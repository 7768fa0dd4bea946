import { KeyPool } from './key-pool.ts';
import type { ProviderConfig, UpstreamCredentials } from './kind.ts';

/** `byok`: whether users may (or must) bring their own key for a provider (README "Bring your own key"). */
export type ByokMode = 'off' | 'allowed' | 'required';

/**
 * The settings every kind that authenticates with a key shares: one key, or a pool of them, and
 * whether users bring their own. `header` names where the key goes upstream.
 */
export function keySettings(header: string): Record<string, unknown> {
  return {
    api_key: { type: 'string', default: '', description: `Key the bridge sends upstream (${header}).` },
    api_keys: {
      type: 'array',
      minItems: 1,
      items: { type: 'string' },
      description:
        'A key pool instead of api_key: calls take the keys in turn; a key answered 429/5xx cools down, one answered 401/403 is set aside until a reload.',
    },
    byok: {
      enum: ['off', 'allowed', 'required'],
      default: 'off',
      description:
        "Users' own keys for this provider: off; allowed (used when the user stored one, else the shared key); required (users without one are refused).",
    },
    byok_budgets: {
      type: 'boolean',
      default: true,
      description: "Whether budgets also count requests made with a user's own key.",
    },
  };
}

/** The pool's keys as configured: blank entries (an unset `${VAR}`) are left out. */
export const poolKeys = (config: ProviderConfig): string[] =>
  Array.isArray(config.api_keys) ? config.api_keys.map((k) => String(k).trim()).filter(Boolean) : [];

export const byokOf = (config: ProviderConfig): ByokMode =>
  config.byok === 'allowed' || config.byok === 'required' ? config.byok : 'off';

/**
 * A provider key sent in one header on every call (OpenAI's `Authorization: Bearer`, Anthropic's
 * `x-api-key`), or a pool of them (`api_keys`). An empty key starts with a warning and its
 * provider's requests are refused, unless the key is `optional` (a local server that takes none)
 * or users must bring their own. `set` is called with '' only for an optional key left empty.
 */
export function apiKeyCredentials(
  config: ProviderConfig,
  at: string,
  set: (headers: Record<string, string | string[]>, key: string) => void,
  optional = false,
): UpstreamCredentials {
  const keys = poolKeys(config);
  const applyKey = (call: { headers: Record<string, string | string[]> }, key: string) => set(call.headers, key);
  if (keys.length) {
    const pool = new KeyPool(keys);
    return {
      ready: true,
      setting: `${at}.api_keys`,
      pool,
      // A call that does not fail over (a passthrough) takes the next key in turn.
      apply: (call) => set(call.headers, pool.take()?.key ?? (keys[0] as string)),
      applyKey,
    };
  }
  const key = (config.api_key ?? '').trim();
  return {
    ready: key !== '' || optional || byokOf(config) === 'required',
    setting: `${at}.api_key`,
    apply: (call) => set(call.headers, key),
    applyKey,
  };
}

/** `https://host:port` and the path of a base URL, without its trailing slash. */
export function splitBaseUrl(baseUrl: string): { origin: string; basePath: string } {
  const url = new URL(baseUrl);
  return { origin: url.origin, basePath: url.pathname.replace(/\/+$/, '') };
}
