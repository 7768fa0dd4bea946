import type { ProviderConfig, UpstreamCredentials } from './kind.ts';

/**
 * A provider key sent in one header on every call (OpenAI's `Authorization: Bearer`, Anthropic's
 * `x-api-key`). An empty key starts with a warning and its provider's requests are refused.
 */
export function apiKeyCredentials(
  config: ProviderConfig,
  at: string,
  set: (headers: Record<string, string | string[]>, key: string) => void,
): UpstreamCredentials {
  const key = (config.api_key ?? '').trim();
  return {
    ready: key !== '',
    setting: `${at}.api_key`,
    apply: (call) => set(call.headers, key),
  };
}

/** `https://host:port` and the path of a base URL, without its trailing slash. */
export function splitBaseUrl(baseUrl: string): { origin: string; basePath: string } {
  const url = new URL(baseUrl);
  return { origin: url.origin, basePath: url.pathname.replace(/\/+$/, '') };
}
